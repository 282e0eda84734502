/**
 * A small tar writer for hand-made image layers: the tests need layers no
 * image tool writes on purpose (whiteouts, opaque directories, links to
 * lower layers, hostile paths), byte for byte under the test's control.
 */

export interface TarSpecEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo';
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; fixed by default so layers are reproducible. */
  mtime?: number;
  content?: string | Buffer;
  linkname?: string;
  xattrs?: Record<string, string>;
}

const BLOCK = 512;
const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', dir: '5', fifo: '6' } as const;

function octalField(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, '0')}\0`;
}

function header(name: string, typeflag: string, size: number, e: TarSpecEntry, linkname: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write(octalField(e.mode ?? (typeflag === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(octalField(e.uid ?? 0, 8), 108, 'ascii');
  h.write(octalField(e.gid ?? 0, 8), 116, 'ascii');
  h.write(octalField(size, 12), 124, 'ascii');
  h.write(octalField(Math.floor(e.mtime ?? 1_600_000_000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(typeflag, 156, 'ascii');
  h.write(linkname.slice(0, 100), 157, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function padded(body: Buffer): Buffer[] {
  const rest = body.length % BLOCK;
  return rest === 0 ? [body] : [body, Buffer.alloc(BLOCK - rest)];
}

function paxRecord(key: string, value: string): Buffer {
  const text = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(text) + 1;
  while (String(len).length + Buffer.byteLength(text) !== len) len++;
  return Buffer.from(`${len}${text}`);
}

/** The whole archive, end-of-archive blocks included. */
export function writeTar(entries: readonly TarSpecEntry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0);
    const name = type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    const linkname = e.linkname ?? '';
    const records: Buffer[] = [];
    if (Buffer.byteLength(name) > 100) records.push(paxRecord('path', name));
    if (Buffer.byteLength(linkname) > 100) records.push(paxRecord('linkpath', linkname));
    for (const [key, value] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${key}`, value));
    if (records.length > 0) {
      const pax = Buffer.concat(records);
      out.push(header('PaxHeader', 'x', pax.length, { name: '' }, ''), ...padded(pax));
    }
    out.push(header(name, TYPEFLAG[type], content.length, e, linkname), ...padded(content));
  }
  out.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(out);
}
