import { chmod, chown, copyFile, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run';
import { AptSuite, unpackDebs } from './apt-root';
import { BASE_PACKAGES, CRIU, NODE_TOOL_PACKAGES, NONROOT, versionAtLeast } from './image-plan';

const LIB_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib64', 'usr/lib64'];

/** Users and groups of every image: root, the distroless `nonroot` (65532) and nobody. */
export function passwdFiles(): { passwd: string; group: string } {
  return {
    passwd: [
      'root:x:0:0:root:/root:/sbin/nologin',
      `${NONROOT.name}:x:${NONROOT.uid}:${NONROOT.uid}:${NONROOT.name}:/home/${NONROOT.name}:/sbin/nologin`,
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin',
      '',
    ].join('\n'),
    group: ['root:x:0:', `${NONROOT.name}:x:${NONROOT.uid}:`, 'nogroup:x:65534:', ''].join('\n'),
  };
}

/** Documentation an image never reads; copyright files stay (licences travel with the binaries). */
async function pruneDocs(root: string): Promise<void> {
  for (const dir of ['usr/share/man', 'usr/share/info', 'usr/share/lintian', 'usr/share/bug', 'usr/share/locale']) {
    await rm(join(root, dir), { recursive: true, force: true });
  }
  const docs = join(root, 'usr/share/doc');
  for (const pkg of await readdir(docs).catch(() => [])) {
    for (const file of await readdir(join(docs, pkg)).catch(() => [])) {
      if (file !== 'copyright') await rm(join(docs, pkg, file), { recursive: true, force: true });
    }
  }
}

export interface DebRoot {
  packages: Map<string, string>;
}

async function unpackClosure(
  apt: AptSuite,
  roots: readonly string[],
  target: string,
  skip: ReadonlySet<string> = new Set(),
): Promise<DebRoot> {
  const closure = (await apt.closure(roots)).filter((p) => !skip.has(p));
  const debs = await apt.download(closure);
  await unpackDebs(debs, target);
  await pruneDocs(target);
  return { packages: await apt.versions(closure) };
}

/** The base root: Debian's C/C++ runtime, TLS roots, zones, users, /tmp. Returns the packages in it. */
export async function stageBase(apt: AptSuite, root: string): Promise<DebRoot> {
  const base = await unpackClosure(apt, BASE_PACKAGES, root);
  // ca-certificates builds this bundle in its postinst; images run no postinst.
  const mozilla = join(root, 'usr/share/ca-certificates/mozilla');
  const certs = (await readdir(mozilla)).filter((f) => f.endsWith('.crt')).sort();
  if (certs.length === 0) throw new Error('ca-certificates unpacked no certificates');
  const bundle = (await Promise.all(certs.map((c) => readFile(join(mozilla, c), 'utf8')))).map((pem) => pem.trimEnd() + '\n').join('');
  await mkdir(join(root, 'etc/ssl/certs'), { recursive: true });
  await writeFile(join(root, 'etc/ssl/certs/ca-certificates.crt'), bundle);
  const { passwd, group } = passwdFiles();
  await writeFile(join(root, 'etc/passwd'), passwd);
  await writeFile(join(root, 'etc/group'), group);
  await writeFile(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  await mkdir(join(root, 'tmp'), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await mkdir(join(root, 'root'), { recursive: true, mode: 0o700 });
  const home = join(root, 'home', NONROOT.name);
  await mkdir(home, { recursive: true, mode: 0o700 });
  await chown(home, NONROOT.uid, NONROOT.uid);
  await mkdir(join(root, 'run'), { recursive: true });
  await mkdir(join(root, 'var'), { recursive: true });
  await symlink('../run', join(root, 'var/run'));
  return base;
}

/** The Node binary (and its licence) at /usr/local/bin/node. */
export async function stageNode(nodeBinary: string, root: string): Promise<void> {
  await mkdir(join(root, 'usr/local/bin'), { recursive: true });
  await copyFile(nodeBinary, join(root, 'usr/local/bin/node'));
  await chmod(join(root, 'usr/local/bin/node'), 0o755);
  await mkdir(join(root, 'usr/local/share/doc/node'), { recursive: true });
  await copyFile(join(nodeBinary, '..', '..', 'LICENSE'), join(root, 'usr/local/share/doc/node/LICENSE'));
}

/** What libs/node-runtime runs, minus what the base already has. */
export async function stageNodeTools(apt: AptSuite, root: string, base: DebRoot): Promise<DebRoot> {
  const tools = await unpackClosure(apt, NODE_TOOL_PACKAGES, root, new Set(base.packages.keys()));
  // dash's postinst makes /bin/sh; without it the agent's shims (`sh -c`) cannot start.
  if (!(await stat(join(root, 'bin/sh')).catch(() => undefined))) await symlink('dash', join(root, 'bin/sh'));
  return tools;
}

/** The criu wrapper: sid's criu with sid's own loader and libraries, so the image's bookworm glibc is untouched. */
export function criuWrapper(prefix: string): string {
  const libs = LIB_DIRS.map((d) => `${prefix}/${d}`).join(':');
  return [
    '#!/bin/sh',
    '# CRIU >= 4.2 from Debian sid, run with its own loader (see the warmpod README, "Deploy to Kubernetes").',
    '# CRIU_FAULT=130 stops tasks with PTRACE_SYSCALL instead of hardware breakpoints, which many VMs do not fire.',
    `CRIU_FAULT=\${CRIU_FAULT-130} exec ${prefix}/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path ${libs} ${prefix}/usr/sbin/criu "$@"`,
    '',
  ].join('\n');
}

/** CRIU into /opt/criu plus the wrapper at /usr/local/sbin/criu; refuses a CRIU older than CRIU.minVersion. */
export async function stageCriu(apt: AptSuite, root: string): Promise<DebRoot> {
  const version = (await apt.versions([CRIU.package])).get(CRIU.package);
  if (!version) throw new Error(`suite ${CRIU.suite} has no ${CRIU.package} package`);
  if (!versionAtLeast(version, CRIU.minVersion)) {
    throw new Error(
      `suite ${CRIU.suite} offers criu ${version}; the agent image needs >= ${CRIU.minVersion} (kernels >= 6.16 refuse older dumps)`,
    );
  }
  const prefix = join(root, CRIU.prefix);
  const criu = await unpackClosure(apt, [CRIU.package], prefix);
  await mkdir(join(root, 'usr/local/sbin'), { recursive: true });
  await writeFile(join(root, 'usr/local/sbin/criu'), criuWrapper(CRIU.prefix), { mode: 0o755 });
  const out = await run(join(prefix, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), [
    '--library-path',
    LIB_DIRS.map((d) => join(prefix, d)).join(':'),
    join(prefix, 'usr/sbin/criu'),
    '--version',
  ]);
  if (!out.includes(version.split('-')[0]!)) throw new Error(`the unpacked criu says "${out.trim()}", expected ${version}`);
  return criu;
}

/**
 * Every binary resolves all its libraries within `roots` (checked with the
 * base's own loader): a missing .so fails the build, not the first pod.
 */
export async function checkLinked(binaries: readonly string[], roots: readonly string[]): Promise<void> {
  const loader = join(roots[0]!, 'lib64/ld-linux-x86-64.so.2');
  const path = roots.flatMap((r) => LIB_DIRS.map((d) => join(r, d))).join(':');
  for (const binary of binaries) {
    const out = await run(loader, ['--library-path', path, '--list', binary]).catch((error: Error) => {
      throw new Error(`${binary} cannot be loaded from the image's libraries: ${error.message}`);
    });
    const missing = out.split('\n').filter((l) => l.includes('not found'));
    if (missing.length > 0) throw new Error(`${binary} needs libraries the image lacks: ${missing.map((l) => l.trim()).join('; ')}`);
  }
}
