import { z } from 'zod';

const configRootfsSchema = z.object({
  rootfs: z.object({
    type: z.literal('layers'),
    diff_ids: z.array(z.string().regex(/^sha256:[a-f0-9]{64}$/, 'a sha256 digest')),
  }),
});

/** The config's diff_ids, one per manifest layer (bottom first), validated. */
export function imageDiffIds(configJson: unknown, layerCount: number): string[] {
  const parsed = configRootfsSchema.safeParse(configJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`image config rootfs is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const diffIds = parsed.data.rootfs.diff_ids;
  if (diffIds.length !== layerCount) throw new Error(`image config lists ${diffIds.length} diff_ids for ${layerCount} layers`);
  return diffIds;
}
