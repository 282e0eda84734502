export * from './blob-source';
export * from './registry-blob-source';
export * from './peer-blob-source';
export { streamVerified } from './verified-stream';
export { heldImageBlob, type HeldBlob } from './held-blobs';
