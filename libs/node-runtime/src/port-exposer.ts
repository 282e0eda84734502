import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Endpoint } from '@warmpod/domain';
import { messageOf, type Logger } from '@warmpod/observability';
import { NodeRuntimeError, quietLogger } from './errors';

export interface PortExposerOptions {
  logger?: Logger;
  /** Listen only on ports of this range (inclusive), e.g. ones forwarded from another host; default: any free port. */
  portRange?: { from: number; to: number };
  /** The host put in endpoints when clients reach the listeners under another name than the bind host. */
  advertiseHost?: string;
}

interface ExposedPort {
  endpoint: Endpoint;
  server: Server;
}

interface ExposedPod {
  ports: Map<number, ExposedPort>;
  sockets: Set<Socket>;
}

/**
 * Makes pod ports reachable from the node's host: one TCP proxy per port,
 * listening on an ephemeral host port and piping to podIp:port.
 */
export class PortExposer {
  private readonly pods = new Map<string, ExposedPod>();

  private readonly logger: Logger;

  constructor(private readonly opts: PortExposerOptions = {}) {
    this.logger = opts.logger ?? quietLogger();
  }

  /**
   * Exposes the ports; ports already exposed for the pod keep their endpoint.
   * `reuse`: endpoints the pod had before (an agent restart), bound again on
   * the same host port so the addresses clients hold keep answering; a port
   * taken meanwhile is an error, never a silent move.
   */
  async expose(podId: string, podIp: string, ports: number[], bindHost = '127.0.0.1', reuse: Endpoint[] = []): Promise<Endpoint[]> {
    let pod = this.pods.get(podId);
    if (!pod) {
      pod = { ports: new Map(), sockets: new Set() };
      this.pods.set(podId, pod);
    }
    const opened: number[] = [];
    try {
      for (const port of ports) {
        if (pod.ports.has(port)) continue;
        pod.ports.set(port, await this.listen(podId, pod, podIp, port, bindHost, hostPortOf(reuse, port)));
        opened.push(port);
      }
    } catch (error) {
      for (const port of opened) {
        pod.ports.get(port)?.server.close();
        pod.ports.delete(port);
      }
      if (pod.ports.size === 0) this.pods.delete(podId);
      throw new NodeRuntimeError('expose ports', messageOf(error), podId, { cause: error });
    }
    const endpoints = ports.map((p) => pod.ports.get(p)!.endpoint);
    this.logger.info({ podId, endpoints }, 'pod ports exposed');
    return endpoints;
  }

  endpoints(podId: string): Endpoint[] {
    return [...(this.pods.get(podId)?.ports.values() ?? [])].map((p) => p.endpoint);
  }

  /** Closes the pod's listeners and every open connection; unknown pods are fine. */
  async unexpose(podId: string): Promise<void> {
    const pod = this.pods.get(podId);
    if (!pod) return;
    this.pods.delete(podId);
    for (const socket of pod.sockets) socket.destroy();
    await Promise.all([...pod.ports.values()].map(({ server }) => new Promise<void>((done) => server.close(() => done()))));
    this.logger.debug({ podId }, 'pod ports unexposed');
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.pods.keys()].map((podId) => this.unexpose(podId)));
  }

  private async listen(
    podId: string,
    pod: ExposedPod,
    podIp: string,
    port: number,
    bindHost: string,
    hostPort: number | undefined,
  ): Promise<ExposedPort> {
    const range = hostPort === undefined ? this.opts.portRange : undefined;
    // In a range, a port taken (by a pod here or anything else) is skipped: the bind is the test.
    const candidates =
      hostPort !== undefined ? [hostPort] : range ? Array.from({ length: range.to - range.from + 1 }, (_, i) => range.from + i) : [0];
    for (const candidate of candidates) {
      const server = createServer((client) => this.proxy(podId, pod, client, podIp, port));
      const bound = await new Promise<boolean>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) => (range && error.code === 'EADDRINUSE' ? resolve(false) : reject(error)));
        server.listen(candidate, bindHost, () => resolve(true));
      });
      if (!bound) continue;
      server.removeAllListeners('error');
      server.on('error', (error) => this.logger.warn({ podId, port, err: messageOf(error) }, 'port proxy listener error'));
      const address = server.address();
      const hostPort = typeof address === 'object' && address ? address.port : 0;
      const advertised = this.opts.advertiseHost ?? bindHost;
      const host = advertised.includes(':') ? `[${advertised}]` : advertised;
      return { server, endpoint: { containerPort: port, address: `${host}:${hostPort}` } };
    }
    throw new Error(`no free port in ${range?.from}-${range?.to}`);
  }

  /** Pipes one client connection to the pod; an error on either side closes both. */
  private proxy(podId: string, pod: ExposedPod, client: Socket, podIp: string, port: number): void {
    const upstream = connect({ host: podIp, port });
    pod.sockets.add(client);
    pod.sockets.add(upstream);
    const close = (error?: Error): void => {
      if (error) this.logger.debug({ podId, port, err: error.message }, 'proxied connection closed on error');
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => {
      pod.sockets.delete(client);
      upstream.end();
    });
    upstream.on('close', () => {
      pod.sockets.delete(upstream);
      client.end();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** The host port an earlier endpoint of `containerPort` listened on, if any. */
function hostPortOf(endpoints: Endpoint[], containerPort: number): number | undefined {
  const address = endpoints.find((e) => e.containerPort === containerPort)?.address;
  const port = address === undefined ? NaN : Number(address.slice(address.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined;
}
