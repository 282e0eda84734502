import { readFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run';

const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const LISTS_MAX_AGE_MS = 24 * 3_600_000;

/**
 * Packages that only serve maintainer scripts or package management. An image
 * runs no postinst, so they are left out even when a package depends on them
 * (distroless does the same).
 */
export const NEVER_UNPACK = [
  'debconf',
  'debconf-2.0',
  'perl-base',
  'dpkg',
  'init-system-helpers',
  'adduser',
  'passwd',
  'lsb-base',
  'sysvinit-utils',
  'usrmerge',
  'usr-is-merged',
  'libc-bin',
  'base-files',
  'install-info',
  'systemd',
  'systemd-sysv',
  'cdebconf',
  // ca-certificates runs it to build the bundle; the image builder writes the bundle itself.
  'openssl',
];

/** The first `URIs:` of the system's deb822 sources (the mirror this machine may reach), or Debian's own. */
export function mirrorOf(sources: string): string {
  const uri = /^URIs:\s*(\S+)/m.exec(sources)?.[1];
  return uri && !uri.includes('security') ? uri : DEFAULT_MIRROR;
}

type DependencyGroup = string[];

/**
 * The dependency graph in `apt-cache depends --recurse` output: per package,
 * its groups of alternatives (`|Depends: a` then `Depends: b` is one group
 * "a or b"); a virtual name (`<debconf-2.0>`) stands for its provider lines.
 */
export function parseDependsGraph(output: string): Map<string, DependencyGroup[]> {
  const graph = new Map<string, DependencyGroup[]>();
  let groups: DependencyGroup[] | undefined;
  let open: DependencyGroup | undefined;
  let continues = false;
  for (const line of output.split('\n')) {
    if (/^[a-z0-9]/.test(line)) {
      groups = [];
      graph.set(line.trim().replace(/:amd64$/, ''), groups);
      open = undefined;
      continue;
    }
    const dep = /^\s*(\|)?(?:Pre)?Depends:\s*(\S+)/.exec(line);
    if (dep && groups) {
      if (!continues || !open) groups.push((open = []));
      const name = dep[2]!.replace(/:amd64$/, '');
      if (!name.startsWith('<')) open.push(name);
      continues = dep[1] === '|';
      continue;
    }
    // A provider of the virtual name just above: one more alternative in the same group.
    const provider = /^ {4}(\S+)$/.exec(line);
    if (provider && open) open.push(provider[1]!.replace(/:amd64$/, ''));
  }
  return graph;
}

/**
 * What `roots` need, walking the graph: a group with an excluded alternative
 * is dropped whole (it only serves maintainer scripts), otherwise its first
 * alternative is taken. Roots must be in the graph (a typo is an error).
 * A root is taken even when excluded: the exclusions are for what packages
 * pull in, not for what an image asks for by name (the agent's perl-base).
 */
export function dependencyClosure(
  graph: Map<string, DependencyGroup[]>,
  roots: readonly string[],
  excluded: readonly string[] = NEVER_UNPACK,
): string[] {
  const missing = roots.filter((r) => !graph.has(r));
  if (missing.length > 0) throw new Error(`no such package: ${missing.join(', ')}`);
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name) || (excluded.includes(name) && !roots.includes(name))) continue;
    seen.add(name);
    for (const group of graph.get(name) ?? []) {
      if (group.length === 0 || group.some((alt) => excluded.includes(alt))) continue;
      queue.push(group.find((alt) => graph.has(alt)) ?? group[0]!);
    }
  }
  return [...seen].sort();
}

/** `name=version` lines from `apt-cache show` output (first stanza per package), for the build log. */
export function parseVersions(output: string): Map<string, string> {
  const versions = new Map<string, string>();
  for (const stanza of output.split(/\n\n+/)) {
    const name = /^Package:\s*(\S+)/m.exec(stanza)?.[1];
    const version = /^Version:\s*(\S+)/m.exec(stanza)?.[1];
    if (name && version && !versions.has(name)) versions.set(name, version);
  }
  return versions;
}

/**
 * A private apt state for one Debian suite: its own sources, lists and cache
 * under `dir`, so downloads never touch the system's apt state or dpkg database.
 */
export class AptSuite {
  private constructor(
    readonly suite: string,
    private readonly dir: string,
    private readonly options: string[],
  ) {}

  static async open(suite: string, dir: string): Promise<AptSuite> {
    for (const sub of ['lists/partial', 'cache/archives/partial', 'debs']) await mkdir(join(dir, sub), { recursive: true });
    const systemSources = await readFile('/etc/apt/sources.list.d/debian.sources', 'utf8').catch(() => '');
    const sources = join(dir, 'sources.list');
    await writeFile(sources, `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirrorOf(systemSources)} ${suite} main\n`);
    const options = [
      `Dir::Etc::sourcelist=${sources}`,
      'Dir::Etc::sourceparts=/nonexistent',
      `Dir::State::Lists=${join(dir, 'lists')}`,
      `Dir::State::status=${join(dir, 'status')}`,
      `Dir::Cache=${join(dir, 'cache')}`,
      'Debug::NoLocking=1',
      'APT::Architecture=amd64',
    ].flatMap((o) => ['-o', o]);
    await writeFile(join(dir, 'status'), '', { flag: 'a' });
    const apt = new AptSuite(suite, dir, options);
    await apt.updateIfStale();
    return apt;
  }

  private async updateIfStale(): Promise<void> {
    const lists = join(this.dir, 'lists');
    const stamp = await stat(join(lists, 'updated')).catch(() => undefined);
    if (stamp && Date.now() - stamp.mtimeMs < LISTS_MAX_AGE_MS) return;
    await run('apt-get', [...this.options, '-qq', 'update'], { timeoutMs: 300_000 }).catch((error: Error) => {
      throw new Error(`apt-get update of suite ${this.suite} failed: ${error.message}`);
    });
    await writeFile(join(lists, 'updated'), new Date().toISOString());
  }

  /** The packages and everything they depend on (no recommends), minus what NEVER_UNPACK drops. */
  async closure(packages: readonly string[]): Promise<string[]> {
    const out = await run('apt-cache', [
      ...this.options,
      'depends',
      '--recurse',
      '--no-recommends',
      '--no-suggests',
      '--no-conflicts',
      '--no-breaks',
      '--no-replaces',
      '--no-enhances',
      ...packages,
    ]).catch((error: Error) => {
      throw new Error(`suite ${this.suite}: cannot resolve ${packages.join(', ')}: ${error.message}`);
    });
    return dependencyClosure(parseDependsGraph(out), packages);
  }

  async versions(packages: readonly string[]): Promise<Map<string, string>> {
    return parseVersions(await run('apt-cache', [...this.options, 'show', '--no-all-versions', ...packages]));
  }

  /** Downloads the .debs (apt verifies them against the signed lists) and returns their paths. */
  async download(packages: readonly string[]): Promise<string[]> {
    const debs = join(this.dir, 'debs');
    const have = new Set(await readdir(debs));
    const versions = await this.versions(packages);
    const missing = packages.filter((p) => ![...have].some((f) => f.startsWith(`${p}_${debVersion(versions.get(p) ?? '')}_`)));
    if (missing.length > 0) {
      await run('apt-get', [...this.options, '-qq', 'download', ...missing], { cwd: debs, timeoutMs: 600_000 });
    }
    const files = await readdir(debs);
    return packages.map((p) => {
      const file = files.find((f) => f.startsWith(`${p}_${debVersion(versions.get(p) ?? '')}_`));
      if (!file) throw new Error(`suite ${this.suite}: ${p} was not downloaded`);
      return join(debs, file);
    });
  }
}

/** A version as it appears in a .deb file name: the epoch's colon is `%3a`. */
export function debVersion(version: string): string {
  return version.replace(':', '%3a');
}

/** Unpacks .debs into `root` as files only: no maintainer scripts, no dpkg database. */
export async function unpackDebs(debs: readonly string[], root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const deb of debs) await run('dpkg-deb', ['-x', deb, root], { timeoutMs: 120_000 });
}
