import { request, type RequestOptions } from 'node:https';
import type { Readable } from 'node:stream';
import { BlobUnavailableError, type BlobPeer, type PeerTransport } from '@warmpod/node-runtime';
import { expectServer, type ClusterTls } from '@warmpod/observability';

/**
 * Asks a peer's agent for a blob over mutual TLS: this node's certificate
 * (`node:<id>`, what the peer serves blobs to) and the peer must present
 * the certificate of the node the directory named.
 */
export class HttpsPeerTransport implements PeerTransport {
  constructor(private readonly tls: Pick<ClusterTls, 'current'>) {}

  open(peer: BlobPeer, digest: string, signal: AbortSignal): Promise<Readable> {
    const { ca, cert, key } = this.tls.current;
    const url = `${peer.url.replace(/\/+$/, '')}/blobs/${digest}`;
    if (!url.startsWith('https://')) return Promise.reject(new BlobUnavailableError(`peer ${peer.node} serves no TLS (${peer.url})`));
    const options: RequestOptions = {
      ca,
      cert,
      key,
      signal,
      agent: false,
      checkServerIdentity: expectServer({ kind: 'node', name: peer.node }),
    };
    return new Promise((resolve, reject) => {
      const req = request(url, options, (res) => {
        if (res.statusCode === 200) return resolve(res);
        res.resume();
        reject(new BlobUnavailableError(`peer ${peer.node} answered HTTP ${res.statusCode ?? 0} for ${digest}`));
      });
      req.once('error', (error) => reject(new BlobUnavailableError(`peer ${peer.node} did not answer: ${error.message}`)));
      req.end();
    });
  }
}
