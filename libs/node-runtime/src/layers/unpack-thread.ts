import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { errorOf, type UnpackJob, type UnpackReply } from './unpack-job';
import type { UnpackedLayer } from './unpack-layer';

/**
 * The worker's script, beside this file: `dist/layers/` in the workspace, `bin/`
 * in an image (the agent's bundle has it as a second entry point, see tools/images).
 */
export const UNPACK_WORKER_SCRIPT = 'unpack-worker.js';

const failureSchema = z.object({
  name: z.string(),
  message: z.string(),
  refused: z.boolean().optional(),
  code: z.string().optional(),
  syscall: z.string().optional(),
  command: z.object({ command: z.string(), exitCode: z.number().int().nullable(), stdout: z.string(), stderr: z.string() }).optional(),
});

const replySchema: z.ZodType<UnpackReply> = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    layer: z.object({ diffBytes: z.number().int().nonnegative(), entries: z.number().int().nonnegative() }),
  }),
  z.object({ ok: z.literal(false), failure: failureSchema }),
]);

/**
 * Unpacks one layer on a worker thread. The stream of a large layer allocates
 * a buffer per chunk read, inflated and written; in the agent's isolate (tens of
 * MB of heap: NestJS, gRPC, BullMQ) that churn kept V8 in back-to-back full
 * collections, each marking the whole heap. A worker's isolate holds the unpack
 * alone, so its collections are small. The worker exits with its unpack.
 */
export function unpackInThread(job: UnpackJob, script = join(__dirname, UNPACK_WORKER_SCRIPT)): Promise<UnpackedLayer> {
  return new Promise((resolve, reject) => {
    let reply: UnpackReply | undefined;
    const worker = new Worker(script, { workerData: job });
    worker.once('message', (message: unknown) => {
      const parsed = replySchema.safeParse(message);
      reply = parsed.success
        ? parsed.data
        : {
            ok: false,
            failure: { name: 'LayerError', message: `unpack worker sent an invalid reply: ${parsed.error.message}`, refused: false },
          };
    });
    // The worker itself failing (not starting, dying) is this node's trouble, not the layer's: a retry may help.
    worker.once('error', (error) => {
      reply ??= { ok: false, failure: { name: 'LayerError', message: `unpack worker failed: ${error.message}`, refused: false } };
    });
    // Settled on exit, not on the message: nothing of the worker outlives the promise.
    worker.once('exit', (code) => {
      if (reply?.ok) resolve(reply.layer);
      else
        reject(
          errorOf(reply?.failure ?? { name: 'LayerError', message: `unpack worker exited with code ${code} and no reply`, refused: false }),
        );
    });
  });
}
