import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { intakeOptionsSchema, runPodDataSchema, WarmpodJobError } from './intake-contract';
import { intakeSchemaDocument } from './json-schema';

describe('intake contract', () => {
  test('run-pod data is the pod request plus waitFor and timeoutSeconds, strict', () => {
    assert.deepEqual(runPodDataSchema.parse({ image: 'a/b:1' }), { image: 'a/b:1', waitFor: 'Running', timeoutSeconds: 600 });
    assert.equal(runPodDataSchema.safeParse({ image: 'a/b:1', waitFor: 'Succeeded' }).success, false);
    assert.equal(runPodDataSchema.safeParse({ image: 'a/b:1', colour: 'red' }).success, false);
    assert.equal(intakeOptionsSchema.safeParse({ timeoutSeconds: 0 }).success, false);
  });

  test('a failedReason in warmpod shape becomes a typed error; any other text is kept', () => {
    const e = WarmpodJobError.fromFailedReason(
      JSON.stringify({ error: { code: 'x', message: 'm', details: [{ path: 'p', message: 'q' }] } }),
    );
    assert.deepEqual([e.code, e.message, e.details], ['x', 'm', [{ path: 'p', message: 'q' }]]);
    const other = WarmpodJobError.fromFailedReason('Missing lock for job 1');
    assert.deepEqual([other.code, other.message], ['job_failed', 'Missing lock for job 1']);
  });

  test('the published JSON Schema is the one generated from the zod schemas (npm run schemas)', () => {
    const published = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'queue-door.schema.json'), 'utf8');
    assert.equal(published, intakeSchemaDocument());
    const doc = JSON.parse(published) as { $defs: Record<string, { properties?: Record<string, unknown> }> };
    assert.ok(doc.$defs['run-pod.data']?.properties?.['image']);
    assert.ok(doc.$defs['run-pod.data']?.properties?.['waitFor']);
    assert.ok(doc.$defs['run-pod.result']?.properties?.['exitCode']);
  });
});
