import { z } from 'zod';
import { DEFAULT_QUOTA, describeIssues, partialQuotaSchema, type QuotaValues } from '@warmpod/domain';
import { TENANT } from '../auth/tokens';

/** The operator's quotas: limits for tenants it names, and defaults for the rest. */
export interface QuotaBook {
  defaults: QuotaValues;
  tenants: ReadonlyMap<string, QuotaValues>;
}

export class QuotaFileError extends Error {
  override readonly name = 'QuotaFileError';
}

const fileSchema = z.strictObject({
  defaults: partialQuotaSchema.optional(),
  tenants: z.record(z.string().regex(TENANT, 'a tenant name (lower-case letters, digits and "-")'), partialQuotaSchema).optional(),
});

/** No file: every tenant gets DEFAULT_QUOTA. */
export const DEFAULT_QUOTA_BOOK: QuotaBook = { defaults: DEFAULT_QUOTA, tenants: new Map() };

/**
 * Parses the quotas JSON: `{"defaults": {...}, "tenants": {"<tenant>": {...}}}`,
 * each a partial set of limits (see QUOTA_NAMES). A tenant's missing limits
 * come from `defaults`, whose missing ones come from DEFAULT_QUOTA.
 */
export function parseQuotaBook(json: string, source: string): QuotaBook {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new QuotaFileError(`${source} is not valid JSON`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error).map((p) => `${source}: ${p.path}: ${p.message}`);
    throw new QuotaFileError(problems.join('\n  '));
  }
  const defaults = { ...DEFAULT_QUOTA, ...parsed.data.defaults };
  const tenants = new Map(Object.entries(parsed.data.tenants ?? {}).map(([tenant, limits]) => [tenant, { ...defaults, ...limits }]));
  return { defaults, tenants };
}

export function limitsOf(book: QuotaBook, tenant: string): QuotaValues {
  return book.tenants.get(tenant) ?? book.defaults;
}
