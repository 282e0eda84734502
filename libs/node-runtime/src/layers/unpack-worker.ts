/**
 * Worker-thread entry: unpacks the one layer in `workerData` (see unpackInThread)
 * and posts the outcome. Loads the unpack code alone, so this isolate's heap stays small.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { failureOf, parseUnpackJob, type UnpackReply } from './unpack-job';
import { openBlob, unpackLayer } from './unpack-layer';

async function run(): Promise<UnpackReply> {
  try {
    const { blobPath, ...input } = parseUnpackJob(workerData);
    return { ok: true, layer: await unpackLayer({ ...input, source: openBlob(blobPath) }) };
  } catch (error) {
    return { ok: false, failure: failureOf(error) };
  }
}

if (!parentPort) throw new Error('unpack-worker runs as a worker thread (see unpackInThread)');
const port = parentPort;
void run().then((reply) => port.postMessage(reply));
