import { Injectable } from '@nestjs/common';
import type { Caller } from './tokens';
import { TokenTable } from './tokens';

/**
 * Whose resources a caller may read. A tenant reads its own (another
 * tenant's is "not found"); an operator reads every tenant's: by id
 * anything, and its listings cover every tenant of the tokens file. Changes
 * stay with the owner: an operator's writes act as its own tenant.
 */
@Injectable()
export class ReadScope {
  constructor(private readonly tokens: TokenTable) {}

  mayRead(caller: Caller, owner: string): boolean {
    return caller.role === 'operator' || owner === caller.tenant;
  }

  /** The tenants whose resources a listing by this caller shows. */
  tenants(caller: Caller): string[] {
    return caller.role === 'operator' ? this.tokens.tenants() : [caller.tenant];
  }
}
