import { createServer } from 'node:net';

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports free on 127.0.0.1 right now (a VM node forwards them one to one).
 * Someone may take one before QEMU binds it: QEMU then fails to start and the caller boots again.
 */
export async function freePortRange(count: number, from = 20_000, to = 40_000): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * (to - from - count));
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await canBind(p);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports on 127.0.0.1 between ${from} and ${to}`);
}
