export { ReadinessProbe, type ReadinessProbeOptions, type ReadinessTarget, type WaitReadyOptions } from './readiness-probe';
export { ReadinessTimeoutError, waitUntilStable, type ProbeOutcome, type StableResult, type StableWaitOptions } from './stable-wait';
export { resolveInRoot } from './resolve-in-root';
