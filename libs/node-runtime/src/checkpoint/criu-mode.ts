import { SYSTEM_TOOL_PATH } from '../system-path';
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
 * which hands its environment to criu): the system PATH, and CRIU_FAULT only
 * when the mode needs it (an empty CRIU_FAULT is not "unset" to CRIU: it
 * refuses it). Nothing of the agent's own environment leaks into it.
 */
export function criuEnvironment(mode: CriuMode): NodeJS.ProcessEnv {
  return mode === 'no-breakpoints' ? { PATH: SYSTEM_TOOL_PATH, CRIU_FAULT: NO_BREAKPOINTS_FAULT } : { PATH: SYSTEM_TOOL_PATH };
}
