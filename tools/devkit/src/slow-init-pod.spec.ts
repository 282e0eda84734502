import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSlowInitState, slowInitCommand } from './slow-init-pod';

describe('slow-init pod', () => {
  it('parses its state page, with the resident kB of its in-memory state when it has some', () => {
    assert.deepEqual(parseSlowInitState('memory=abc file=def\n'), { memory: 'abc', file: 'def' });
    assert.deepEqual(parseSlowInitState('memory=abc file=def held=263672\n'), { memory: 'abc', file: 'def', heldKiB: 263672 });
    assert.equal(parseSlowInitState('warmpod http sample'), undefined);
  });

  it('builds the state with busybox awk alongside the init, and waits for it before serving', () => {
    const plain = slowInitCommand(5);
    assert.equal(plain[2]!.includes('awk'), false);
    const [sh, c, script] = slowInitCommand(5, { stateMiB: 256 });
    assert.deepEqual([sh, c], ['sh', '-c']);
    assert.ok(script!.startsWith(`busybox awk 'BEGIN { s = sprintf("%${256 * 2 ** 20}s", "x");`), script);
    assert.ok(script!.indexOf('sleep 5') < script!.indexOf('holder.pid ]'), 'the init runs while the state is built');
    assert.match(script!, /held=\$2/);
    assert.throws(() => slowInitCommand(5, { stateMiB: -1 }), /stateMiB/);
  });
});
