import type { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Validates an environment against an app's schema, once, at boot. The only
 * place an app reads `process.env` is the call site of this function.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>, app: string): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration for ${app}:\n${lines.join('\n')}`);
  }
  return result.data;
}
