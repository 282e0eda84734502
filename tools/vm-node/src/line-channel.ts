import { createServer, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';

/**
 * A unix-socket server for exactly one client (QEMU connects to it as a chardev client
 * at start-up, before the guest runs), delivering newline-delimited lines. Being the
 * server means the host is listening before QEMU starts: no polling for a socket file.
 */
export class LineChannel {
  private socket: Socket | undefined;
  private buffer = '';
  private closed = false;
  private readonly connectedPromise: Promise<void>;
  private resolveConnected!: () => void;

  private constructor(
    private readonly server: Server,
    readonly path: string,
    private readonly onLine: (line: string) => void,
    private readonly onClose: () => void,
  ) {
    this.connectedPromise = new Promise((resolve) => (this.resolveConnected = resolve));
    server.on('connection', (socket) => {
      if (this.socket) {
        socket.destroy();
        return;
      }
      this.socket = socket;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => this.receive(chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.closed = true;
        this.onClose();
      });
      this.resolveConnected();
    });
  }

  static async listen(path: string, onLine: (line: string) => void, onClose: () => void = () => undefined): Promise<LineChannel> {
    await rm(path, { force: true });
    const server = createServer();
    const channel = new LineChannel(server, path, onLine, onClose);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return channel;
  }

  get connected(): Promise<void> {
    return this.connectedPromise;
  }

  get isOpen(): boolean {
    return this.socket !== undefined && !this.closed;
  }

  send(line: string): boolean {
    if (!this.socket || this.closed) return false;
    this.socket.write(`${line}\n`);
    return true;
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let i = this.buffer.indexOf('\n'); i >= 0; i = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, i).replace(/\r$/, '');
      this.buffer = this.buffer.slice(i + 1);
      this.onLine(line);
    }
  }
}

interface QmpReply {
  id?: number;
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
  QMP?: unknown;
}

/** QEMU's machine protocol over a LineChannel: capabilities negotiation, then commands. */
export class QmpClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly greeted: Promise<void>;
  private resolveGreeted!: () => void;
  private channel!: LineChannel;

  private constructor() {
    this.greeted = new Promise((resolve) => (this.resolveGreeted = resolve));
  }

  static async listen(path: string): Promise<QmpClient> {
    const client = new QmpClient();
    client.channel = await LineChannel.listen(
      path,
      (line) => client.receive(line),
      () => client.failAll(new Error('QMP connection closed')),
    );
    return client;
  }

  /** Resolves once QEMU has connected and capabilities are negotiated. */
  async ready(): Promise<void> {
    await this.channel.connected;
    await this.greeted;
    await this.command('qmp_capabilities');
  }

  command(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (!this.channel.send(JSON.stringify({ execute, ...(args ? { arguments: args } : {}), id }))) {
        this.pending.delete(id);
        reject(new Error(`QMP ${execute}: not connected`));
      }
    });
  }

  /** A human monitor command (hostfwd_add, info usernet, ...); returns its text output. */
  async hmp(commandLine: string): Promise<string> {
    const out = await this.command('human-monitor-command', { 'command-line': commandLine });
    return typeof out === 'string' ? out : '';
  }

  close(): Promise<void> {
    this.failAll(new Error('QMP client closed'));
    return this.channel.close();
  }

  private receive(line: string): void {
    let msg: QmpReply;
    try {
      msg = JSON.parse(line) as QmpReply;
    } catch {
      return;
    }
    if (msg.QMP) {
      this.resolveGreeted();
      return;
    }
    if (msg.event || msg.id === undefined) return;
    const waiter = this.pending.get(msg.id);
    if (!waiter) return;
    this.pending.delete(msg.id);
    if (msg.error) waiter.reject(new Error(`QMP: ${msg.error.class}: ${msg.error.desc}`));
    else waiter.resolve(msg.return);
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
