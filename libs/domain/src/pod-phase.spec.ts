import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canTransition, isPodPhase, isTerminal, phasesBefore, POD_PHASES, TERMINAL_PHASES, type PodPhase } from './pod-phase';

/** Every phase `from` that may move to `to`, computed from canTransition alone. */
function sourcesOf(to: PodPhase): PodPhase[] {
  return POD_PHASES.filter((from) => canTransition(from, to));
}

describe('pod phase transitions', () => {
  test('Running is entered only from Starting or Restoring', () => {
    assert.deepEqual(sourcesOf('Running'), ['Starting', 'Restoring']);
    assert.deepEqual([...phasesBefore('Running')], ['Starting', 'Restoring']);
  });

  test('the happy path is allowed step by step', () => {
    const path: PodPhase[] = ['Pending', 'Scheduled', 'Pulling', 'Starting', 'Running', 'Succeeded'];
    for (let i = 1; i < path.length; i++) assert.equal(canTransition(path[i - 1]!, path[i]!), true, `${path[i - 1]} -> ${path[i]}`);
    assert.equal(canTransition('Scheduled', 'Starting'), true, 'a cached image skips Pulling');
    assert.equal(canTransition('Pulling', 'Restoring'), true);
  });

  test('nothing leaves a terminal phase, except Lost back to Pending (placed again)', () => {
    for (const from of TERMINAL_PHASES) {
      for (const to of POD_PHASES) {
        const expected = from === 'Lost' && to === 'Pending';
        assert.equal(canTransition(from, to), expected, `${from} -> ${to}`);
      }
    }
  });

  test('only a lost pod enters Pending again', () => {
    assert.deepEqual(sourcesOf('Pending'), ['Lost']);
  });

  test('no phase moves to itself', () => {
    for (const phase of POD_PHASES) assert.equal(canTransition(phase, phase), false, phase);
  });

  test('no skipping ahead', () => {
    assert.equal(canTransition('Pending', 'Running'), false);
    assert.equal(canTransition('Pending', 'Starting'), false);
    assert.equal(canTransition('Scheduled', 'Running'), false);
    assert.equal(canTransition('Starting', 'Succeeded'), false);
  });

  test('Failed and Stopped are reachable from every live phase; Lost only once on a node', () => {
    const live: PodPhase[] = ['Pending', 'Scheduled', 'Pulling', 'Starting', 'Restoring', 'Running'];
    assert.deepEqual(sourcesOf('Failed'), live);
    assert.deepEqual(sourcesOf('Stopped'), live);
    assert.deepEqual(sourcesOf('Lost'), ['Scheduled', 'Pulling', 'Starting', 'Restoring', 'Running']);
    assert.deepEqual(sourcesOf('Succeeded'), ['Running']);
  });

  test('terminal phases and phase names', () => {
    assert.deepEqual(
      POD_PHASES.filter((p) => isTerminal(p)),
      ['Succeeded', 'Failed', 'Stopped', 'Lost'],
    );
    assert.equal(isPodPhase('Running'), true);
    assert.equal(isPodPhase('running'), false);
    assert.equal(isPodPhase(''), false);
  });
});
