import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { Helm, type K8sObject } from '../helm';

/**
 * Renders the chart once per `ci/` values file before the spec's tests (a
 * render error fails them) and closes helm after them. The map is filled
 * by the before hook: read it in tests only.
 */
export function useRenderedValues(files: readonly string[]): ReadonlyMap<string, K8sObject[]> {
  const rendered = new Map<string, K8sObject[]>();
  let helm: Helm | undefined;
  before(async () => {
    helm = await Helm.open();
    for (const file of files) {
      const res = await helm.template({ files: [join('ci', file)] });
      if ('error' in res) assert.fail(res.error);
      rendered.set(file, res.objects);
    }
  });
  after(async () => {
    await helm?.close();
  });
  return rendered;
}
