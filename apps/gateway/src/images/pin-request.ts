import { z } from 'zod';
import { podRequestSchema, type ImageReference } from '@warmpod/domain';

/** The body of `POST /v1/images`. Unknown fields are refused, not ignored. */
export const pinRequestSchema = z.strictObject({
  image: z.string().min(1, 'image is required'),
  /** Labels a node must carry to be warmed; none means every node. */
  nodeSelector: podRequestSchema.shape.nodeSelector,
});
export type PinRequest = z.infer<typeof pinRequestSchema>;

export const PIN_ID = /^pin-[0-9a-z]{20}$/;

/**
 * The reference a pin is known by: `registry/repository:tag`, or
 * `registry/repository@digest` when the client named a digest. Pinning it
 * again supersedes the older pin; `app`, `app:latest` and
 * `<default registry>/app:latest` are the same reference.
 */
export function pinReference(ref: ImageReference): string {
  const name = `${ref.registry}/${ref.repository}`;
  return ref.digest ? `${name}@${ref.digest}` : `${name}:${ref.tag ?? 'latest'}`;
}
