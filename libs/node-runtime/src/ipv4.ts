const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpv4(ip: string): number | undefined {
  const m = IPV4.exec(ip);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

/** Whether `cidr` is a well-formed IPv4 subnet such as 10.89.7.0/24. */
export function isIpv4Cidr(cidr: string): boolean {
  const [ip, bits, ...rest] = cidr.split('/');
  return rest.length === 0 && parseIpv4(ip ?? '') !== undefined && /^\d{1,2}$/.test(bits ?? '') && Number(bits) <= 32;
}

export function ipInSubnet(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const addr = parseIpv4(ip);
  const base = parseIpv4(net ?? '');
  if (addr === undefined || base === undefined || !isIpv4Cidr(cidr)) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(addr / size) === Math.floor(base / size);
}
