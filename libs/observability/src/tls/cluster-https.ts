import { request } from 'node:https';
import { expectServer, type ClusterIdentity } from './cluster-identity';
import type { TlsMaterial } from './cluster-tls';

export interface ClusterResponse {
  status: number;
  contentType: string;
  body: string;
}

/**
 * GET over HTTPS inside the cluster: this process's certificate as the
 * client credential, and the server must present `server` (its certificate
 * from the cluster CA names it; host names and IPs are not checked, so an
 * agent on any address is fine). No connection is pooled: the material may
 * rotate between calls. Rejects on a transport or TLS failure, with why.
 */
export function clusterGet(url: string, material: TlsMaterial, server: ClusterIdentity, timeoutMs: number): Promise<ClusterResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: material.ca,
        cert: material.cert,
        key: material.key,
        checkServerIdentity: expectServer(server),
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? '',
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${new URL(url).host} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
