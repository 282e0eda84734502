/**
 * How CRIU stops a task after running its parasite code. With hardware
 * breakpoints (CRIU's default), or, where debug registers do not fire (some
 * VMs: a dump then hangs for ever with the task frozen), with PTRACE_SYSCALL,
 * switched on by CRIU's documented fault-injection code FI_NO_BREAKPOINTS.
 * A node measures which one works (CriuCapability) and uses it for every
 * checkpoint and restore.
 */
export const CRIU_MODES = ['breakpoints', 'no-breakpoints'] as const;
export type CriuMode = (typeof CRIU_MODES)[number];

/** CRIU_FAULT value of FI_NO_BREAKPOINTS (criu/include/fault-injection.h). */
export const NO_BREAKPOINTS_FAULT = '130';

export function isCriuMode(value: unknown): value is CriuMode {
  return typeof value === 'string' && (CRIU_MODES as readonly string[]).includes(value);
}

/**
 * The environment of a process that runs CRIU in `mode` (criu itself, or runc,
 * which hands its environment to criu): this process's own, with CRIU_FAULT
 * set or removed. An empty CRIU_FAULT is not "unset" to CRIU: it refuses it.
 */
export function criuEnvironment(mode: CriuMode): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['CRIU_FAULT'];
  if (mode === 'no-breakpoints') env['CRIU_FAULT'] = NO_BREAKPOINTS_FAULT;
  return env;
}
