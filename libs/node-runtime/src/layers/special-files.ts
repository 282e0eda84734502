import { runCommand } from '../command';

/**
 * Device nodes (overlayfs whiteouts are char 0/0) and extended attributes,
 * which Node cannot create, made by one perl process per layer: perl-base is
 * part of every Debian system and its `syscall` needs no native module.
 */
export type SpecialOp =
  | { op: 'mknod'; path: string; mode: number; major: number; minor: number; uid: number; gid: number }
  | { op: 'xattr'; path: string; name: string; value: Buffer };

/** mknodat and lsetxattr numbers of the architectures nodes run on. */
const SYSCALLS: Record<string, { mknodat: number; lsetxattr: number }> = {
  x64: { mknodat: 259, lsetxattr: 189 },
  arm64: { mknodat: 33, lsetxattr: 6 },
};

// Each input line: "n <path-hex> <mode> <dev> <uid> <gid>" or "x <path-hex> <name-hex> <value-hex>".
// Hex keeps any byte (NULs in capability values, newlines in names) out of the framing.
const SCRIPT = `
use strict; umask 0;
my ($mknodat, $lsetxattr) = @ARGV;
while (my $line = <STDIN>) {
  chomp $line;
  my @f = split / /, $line, -1;
  my $path = pack('H*', $f[1]);
  if ($f[0] eq 'n') {
    syscall($mknodat, -100, $path, $f[2] + 0, $f[3] + 0) == 0 or die "mknod $path: $!\\n";
    chown($f[4] + 0, $f[5] + 0, $path) or die "chown $path: $!\\n";
    chmod(($f[2] + 0) & 07777, $path) or die "chmod $path: $!\\n";
  } elsif ($f[0] eq 'x') {
    my $name = pack('H*', $f[2]);
    my $value = pack('H*', $f[3]);
    syscall($lsetxattr, $path, $name, $value, length($value), 0) == 0 or die "setxattr $name on $path: $!\\n";
  } else { die "unknown op $f[0]\\n"; }
}
`;

/** Linux dev_t as mknod wants it (glibc's makedev). */
function makedev(major: number, minor: number): number {
  return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
}

/** Applies the ops in order (create nodes before setting their attributes). */
export async function applySpecialOps(ops: readonly SpecialOp[]): Promise<void> {
  if (ops.length === 0) return;
  const numbers = SYSCALLS[process.arch];
  if (!numbers) throw new Error(`device nodes and xattrs are not supported on ${process.arch}`);
  const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');
  const lines = ops.map((o) =>
    o.op === 'mknod'
      ? `n ${hex(o.path)} ${o.mode} ${makedev(o.major, o.minor)} ${o.uid} ${o.gid}`
      : `x ${hex(o.path)} ${hex(o.name)} ${o.value.toString('hex')}`,
  );
  await runCommand('perl', ['-e', SCRIPT, String(numbers.mknodat), String(numbers.lsetxattr)], {
    input: `${lines.join('\n')}\n`,
    timeoutMs: 5 * 60_000,
  });
}
