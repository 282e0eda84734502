import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** Tenants name Redis keys and queues, so they keep to a DNS-label shape. */
export const TENANT = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const TENANT_NAME = TENANT;
/** Visible ASCII without spaces, as RFC 6750 allows in a bearer token. */
const TOKEN = /^[\x21-\x7e]{8,512}$/;
/** A token given by its hash: `sha256:` and 64 lower-case hex digits. */
const HASHED = /^sha256:([0-9a-f]{64})$/;

export const ROLES = ['tenant', 'operator'] as const;
export type Role = (typeof ROLES)[number];

/** What a token grants: whose resources it acts on, and whether it may run the cluster. */
export interface TokenGrant {
  tenant: string;
  role: Role;
}

/** Who is asking: the grant of the presented token, and a non-secret id of that token. */
export interface Caller extends TokenGrant {
  /** Derived from the token's hash; safe for logs and Redis keys (rate limits). */
  tokenId: string;
}

export class TokenError extends Error {
  override readonly name = 'TokenError';
}

const grantSchema = z.strictObject({
  tenant: z.string().regex(TENANT, 'must be lower-case letters, digits and "-" (at most 63)'),
  role: z.enum(ROLES),
});

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Parses the tokens JSON the gateway is configured with:
 * `{"<token>" | "sha256:<hex>": {"tenant": "<name>", "role": "tenant" | "operator"}}`.
 * Only hashes are kept. Messages name tokens by position, never by value:
 * they end up in logs.
 */
export function parseTokens(json: string, source: string): Map<string, TokenGrant> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new TokenError(`${source} is not valid JSON`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new TokenError(`${source} must be a JSON object of token -> {"tenant": "<name>", "role": "tenant" | "operator"}`);
  }
  const byHash = new Map<string, TokenGrant>();
  Object.entries(raw).forEach(([token, value], index) => {
    const which = `${source}: token #${index + 1}`;
    const hashed = HASHED.exec(token)?.[1];
    if (!hashed && token.startsWith('sha256:')) throw new TokenError(`${which} starts with "sha256:" but is not 64 lower-case hex digits`);
    if (!hashed && !TOKEN.test(token)) throw new TokenError(`${which} must be 8-512 visible ASCII characters without spaces`);
    if (typeof value === 'string') {
      throw new TokenError(`${which} maps to a bare tenant name; write {"tenant": "<name>", "role": "tenant" | "operator"}`);
    }
    const grant = grantSchema.safeParse(value);
    if (!grant.success) {
      const problems = grant.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'value'}: ${i.message}`);
      throw new TokenError(`${which}: ${problems.join('; ')}`);
    }
    const hash = hashed ?? sha256(token).toString('hex');
    if (byHash.has(hash)) throw new TokenError(`${which} is the same token as an earlier one (plain or hashed)`);
    byHash.set(hash, grant.data);
  });
  if (byHash.size === 0) throw new TokenError(`${source} holds no tokens; at least one is required`);
  return byHash;
}

/** `sha256:<hex>` of a token, as the tokens file may hold it. */
export function hashToken(token: string): string {
  return `sha256:${sha256(token).toString('hex')}`;
}

interface Entry {
  hash: Buffer;
  caller: Caller;
}

/**
 * Token -> caller. Every presented token is hashed to 32 bytes and compared
 * with every configured hash by `timingSafeEqual`, without stopping at a
 * match: the time taken says nothing about which token, or how much of one,
 * was right.
 */
export class TokenTable {
  private readonly entries: Entry[];

  /** `grants` is keyed by the tokens' sha256 in hex (what `parseTokens` returns). */
  constructor(grants: ReadonlyMap<string, TokenGrant>) {
    this.entries = [...grants].map(([hex, grant]) => ({
      hash: Buffer.from(hex, 'hex'),
      // A second hash, so the id reveals nothing a tokens file of hashes does not already.
      caller: { ...grant, tokenId: `tok-${sha256(`warmpod-token-id:${hex}`).toString('hex').slice(0, 16)}` },
    }));
  }

  /** Every tenant a token names: whose resources an operator's listings cover. */
  tenants(): string[] {
    return [...new Set(this.entries.map((e) => e.caller.tenant))].sort();
  }

  callerFor(token: string): Caller | undefined {
    const presented = sha256(token);
    let found: Caller | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(presented, entry.hash) && !found) found = entry.caller;
    }
    return found;
  }
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** The token of an `Authorization: Bearer <token>` header, or undefined when there is none. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  return BEARER.exec(header)?.[1];
}
