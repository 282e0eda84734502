/**
 * A streaming reader of (uncompressed) tar archives as image layers use them:
 * ustar with the GNU long-name extensions and PAX records (long names, sizes,
 * ids, mtimes, SCHILY.xattr.*). Each entry's body must be drained before the
 * next header is read; nothing is buffered beyond one block and one chunk.
 */

const BLOCK = 512;

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'dir' | 'fifo';

export interface TarEntry {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, fractional when PAX gives it. */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'dir',
  '6': 'fifo',
};

/** Pulls exact byte counts out of a chunked stream. */
class ByteSource {
  private chunk: Buffer = Buffer.alloc(0);
  private offset = 0;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Up to `max` bytes (at least one), or undefined at the end of the stream. */
  async some(max: number): Promise<Buffer | undefined> {
    while (this.offset >= this.chunk.length) {
      const next = await this.it.next();
      if (next.done) return undefined;
      this.chunk = next.value;
      this.offset = 0;
    }
    const end = Math.min(this.chunk.length, this.offset + max);
    const out = this.chunk.subarray(this.offset, end);
    this.offset = end;
    return out;
  }

  /** Exactly n bytes; undefined only when the stream ends before the first byte. */
  async exact(n: number, what: string): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const part = await this.some(n - got);
      if (!part) {
        if (got === 0) return undefined;
        throw new TarFormatError(`tar ends inside ${what}`);
      }
      parts.push(part);
      got += part.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  async skip(n: number, what: string): Promise<void> {
    for (let left = n; left > 0;) {
      const part = await this.some(left);
      if (!part) throw new TarFormatError(`tar ends inside ${what}`);
      left -= part.length;
    }
  }
}

function cstring(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function octal(buf: Buffer, start: number, len: number, what: string): number {
  const field = buf.subarray(start, start + len);
  if (field[0]! & 0x80) {
    // GNU base-256 for values an octal field cannot hold.
    let value = field[0]! & 0x3f;
    for (let i = 1; i < len; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = cstring(buf, start, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`tar header field ${what} is not octal: "${text}"`);
  return parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  const stored = octal(header, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum === stored;
}

/** PAX records: "<len> <key>=<value>\n", len counting the whole record in bytes. */
function parsePax(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(body.subarray(at, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || at + len > body.length) throw new TarFormatError('malformed PAX record');
    const record = body.subarray(space + 1, at + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError('malformed PAX record (no "=")');
    records.set(record.subarray(0, eq).toString('utf8'), record.subarray(eq + 1));
    at += len;
  }
  return records;
}

const MAX_META = 1 << 20;

/** Yields each entry with its body; the caller must consume `body` fully (or not at all: it is then skipped). */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<{ entry: TarEntry; body: AsyncIterable<Buffer> }> {
  const bytes = new ByteSource(source[Symbol.asyncIterator]());
  let global = new Map<string, Buffer>();
  let pax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const header = await bytes.exact(BLOCK, 'a header');
    if (!header) return; // a tar without end-of-archive blocks still ends cleanly
    if (header.every((b) => b === 0)) return;
    if (!checksumOk(header)) throw new TarFormatError('tar header checksum mismatch (not a tar, or corrupt)');
    const typeflag = String.fromCharCode(header[156]!);
    let size = octal(header, 124, 12, 'size');
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_META) throw new TarFormatError(`tar metadata entry of ${size} bytes is too large`);
      const body = (await bytes.exact(padded, 'a metadata entry'))?.subarray(0, size) ?? Buffer.alloc(0);
      if (typeflag === 'x') pax = parsePax(body);
      else if (typeflag === 'g') global = new Map([...global, ...parsePax(body)]);
      else if (typeflag === 'L') longName = cstring(body, 0, body.length);
      else longLink = cstring(body, 0, body.length);
      continue;
    }
    const type = TYPES[typeflag];
    const rec = new Map([...global, ...pax]);
    const text = (key: string): string | undefined => rec.get(key)?.toString('utf8');
    const num = (key: string, fallback: number): number => {
      const v = text(key);
      return v === undefined ? fallback : Number(v);
    };
    const prefix = cstring(header, 345, 155);
    const shortName = cstring(header, 0, 100);
    const name = text('path') ?? longName ?? (prefix ? `${prefix}/${shortName}` : shortName);
    if (rec.has('size')) size = num('size', size);
    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of rec) if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
    pax = new Map();
    longName = undefined;
    const linkname = text('linkpath') ?? longLink ?? cstring(header, 157, 100);
    longLink = undefined;
    if (!type) throw new TarFormatError(`tar entry "${name}" has unsupported type "${typeflag}"`);
    const entry: TarEntry = {
      name,
      type,
      mode: octal(header, 100, 8, 'mode') & 0o7777,
      uid: num('uid', octal(header, 108, 8, 'uid')),
      gid: num('gid', octal(header, 116, 8, 'gid')),
      size: type === 'file' ? size : 0,
      mtime: num('mtime', octal(header, 136, 12, 'mtime')),
      linkname,
      devmajor: octal(header, 329, 8, 'devmajor'),
      devminor: octal(header, 337, 8, 'devminor'),
      xattrs,
    };
    const dataBytes = Math.ceil(size / BLOCK) * BLOCK;
    let left = size;
    const body: AsyncIterable<Buffer> = {
      async *[Symbol.asyncIterator]() {
        while (left > 0) {
          const part = await bytes.some(left);
          if (!part) throw new TarFormatError(`tar ends inside the body of "${name}"`);
          left -= part.length;
          yield part;
        }
      },
    };
    yield { entry, body };
    if (left > 0) await bytes.skip(left, `the body of "${name}"`);
    await bytes.skip(dataBytes - size, `the padding of "${name}"`);
  }
}
