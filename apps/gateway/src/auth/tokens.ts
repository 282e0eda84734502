import { createHash } from 'node:crypto';

/** Tenants name Redis keys and queues, so they keep to a DNS-label shape. */
const TENANT = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Visible ASCII without spaces, as RFC 6750 allows in a bearer token. */
const TOKEN = /^[\x21-\x7e]{8,512}$/;

export class TokenError extends Error {
  override readonly name = 'TokenError';
}

/**
 * Parses the `{"<token>": "<tenant>"}` JSON the gateway is configured with.
 * Messages name tokens by position, never by value: they end up in logs.
 */
export function parseTokens(json: string, source: string): Map<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new TokenError(`${source} is not valid JSON`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new TokenError(`${source} must be a JSON object of token -> tenant`);
  }
  const tokens = new Map<string, string>();
  Object.entries(raw).forEach(([token, tenant], index) => {
    const which = `${source}: token #${index + 1}`;
    if (!TOKEN.test(token)) throw new TokenError(`${which} must be 8-512 visible ASCII characters without spaces`);
    if (typeof tenant !== 'string' || !TENANT.test(tenant)) {
      throw new TokenError(`${which} must map to a tenant name of lower-case letters, digits and "-" (at most 63)`);
    }
    tokens.set(token, tenant);
  });
  if (tokens.size === 0) throw new TokenError(`${source} holds no tokens; at least one is required`);
  return tokens;
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * Token -> tenant lookup. Keyed by the token's hash so that lookup time does
 * not depend on how much of a guessed token matches a real one.
 */
export class TokenTable {
  private readonly byHash = new Map<string, string>();

  constructor(tokens: ReadonlyMap<string, string>) {
    for (const [token, tenant] of tokens) this.byHash.set(digest(token), tenant);
  }

  tenantFor(token: string): string | undefined {
    return this.byHash.get(digest(token));
  }
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** The token of an `Authorization: Bearer <token>` header, or undefined when there is none. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  return BEARER.exec(header)?.[1];
}
