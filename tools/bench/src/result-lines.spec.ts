import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resultLines } from './result-lines';

describe('bench result lines', () => {
  it('prints one snake_case line per figure, rounded, NaN kept', () => {
    assert.deepEqual(resultLines({ start_p50_ms: 95, start_over_bare_runc: 3.2749, claim_p99_ms: Number.NaN }), [
      'result: start_p50_ms = 95',
      'result: start_over_bare_runc = 3.275',
      'result: claim_p99_ms = NaN',
    ]);
  });

  it('refuses a name a machine would have to guess at', () => {
    assert.throws(() => resultLines({ 'p50 (ms)': 1 }), /not snake_case/);
    assert.throws(() => resultLines({ startP50Ms: 1 }), /not snake_case/);
  });
});
