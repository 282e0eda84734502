import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { z } from 'zod';

/**
 * Where the `.lua` files are read from: the package's `lua` folder beside
 * its `dist`, an asset folder like node-registry's `proto`. tsc does not copy
 * it, so a build adds no step; a single-file bundle ships it beside its
 * `bin` (tools/images does so for every package's asset folders). This file
 * must stay at the top of src.
 */
export const LUA_DIR = join(__dirname, '..', 'lua');

const INCLUDE = /^--- @include "([\w-]+)"\s*$/gm;
const HEADER = /^--\[\[([\s\S]*?)\]\]/;
const SLOT = /^\s*(KEYS|ARGV)\[(\d+)(\.\.\.)?\]\s+(\w+)/gm;

/** What the header of a script declares, in order; `rest` names a tail of any length after them. */
export interface LuaSlots {
  keys: string[];
  args: string[];
  restKeys?: string;
  restArgs?: string;
}

/** A script with its includes resolved, as sent to Redis. */
export interface LuaSource {
  name: string;
  source: string;
  sha: string;
  slots: LuaSlots;
}

/**
 * Reads `lua/<name>.lua`, replaces each `--- @include "x"` line with
 * `lua/includes/x.lua` (each include once per script, includes may include),
 * and reads the KEYS and ARGV its header comment lists.
 */
export function loadLua(name: string, dir = LUA_DIR): LuaSource {
  const own = readFileSync(join(dir, `${name}.lua`), 'utf8');
  const header = HEADER.exec(own);
  if (!header) throw new Error(`${name}.lua: no --[[ ]] header listing KEYS, ARGV and the reply`);
  const source = resolveIncludes(own, dir, new Set());
  return { name, source, sha: createHash('sha1').update(source).digest('hex'), slots: parseSlots(name, header[1] ?? '') };
}

function resolveIncludes(text: string, dir: string, seen: Set<string>): string {
  return text.replace(INCLUDE, (_line, include: string) => {
    if (seen.has(include)) return '';
    seen.add(include);
    return resolveIncludes(readFileSync(join(dir, 'includes', `${include}.lua`), 'utf8'), dir, seen).trimEnd();
  });
}

function parseSlots(name: string, header: string): LuaSlots {
  const slots: LuaSlots = { keys: [], args: [] };
  for (const m of header.matchAll(SLOT)) {
    const [, kind, index, rest, slot] = m;
    const list = kind === 'KEYS' ? slots.keys : slots.args;
    if ((kind === 'KEYS' ? slots.restKeys : slots.restArgs) !== undefined || Number(index) !== list.length + 1)
      throw new Error(`${name}.lua: ${kind}[${index}] out of order in the header`);
    if (rest && kind === 'KEYS') slots.restKeys = slot;
    else if (rest) slots.restArgs = slot;
    else list.push(slot ?? '');
  }
  return slots;
}

type Value = string | number;

/** The tails after the named KEYS and ARGV, for scripts whose header declares one. */
export interface LuaRest {
  keys?: readonly string[];
  args?: readonly Value[];
}

export interface LuaScript<K extends string, A extends string, R> {
  readonly name: string;
  run(redis: Redis, keys: Readonly<Record<K, string>>, args: Readonly<Record<A, Value>>, rest?: LuaRest): Promise<R>;
}

/**
 * A script of `lua/<file>.lua` with named KEYS and ARGV and a reply checked
 * by `reply`. The names must be the header's, in its order, and the number
 * in the file name its count of named KEYS: a mismatch fails at load time,
 * so a caller cannot pass an argument in the wrong place.
 */
export function defineScript<const K extends readonly string[], const A extends readonly string[], R>(
  file: string,
  spec: { keys: K; args: A; restKeys?: string; restArgs?: string; reply: z.ZodType<R> },
): LuaScript<K[number], A[number], R> {
  const lua = loadLua(file);
  checkSlots(lua, spec);
  return {
    name: file,
    async run(redis, keys, args, rest = {}) {
      const keyList = [...spec.keys.map((k: K[number]) => keys[k]), ...(rest.keys ?? [])];
      const argList = [...spec.args.map((a: A[number]) => args[a]), ...(rest.args ?? [])];
      const raw = await evalCached(redis, lua, keyList, argList);
      const parsed = spec.reply.safeParse(raw);
      if (!parsed.success) throw new Error(`${file}.lua replied ${JSON.stringify(raw)}: ${parsed.error.message}`);
      return parsed.data;
    },
  };
}

function checkSlots(
  lua: LuaSource,
  spec: { keys: readonly string[]; args: readonly string[]; restKeys?: string; restArgs?: string },
): void {
  const keyCount = Number(/-(\d+)$/.exec(lua.name)?.[1]);
  const problems = [
    keyCount !== spec.keys.length && `the file name says ${keyCount} KEYS, the caller names ${spec.keys.length}`,
    spec.keys.join(',') !== lua.slots.keys.join(',') && `KEYS ${lua.slots.keys.join(',')} in the header, ${spec.keys.join(',')} named`,
    spec.args.join(',') !== lua.slots.args.join(',') && `ARGV ${lua.slots.args.join(',')} in the header, ${spec.args.join(',')} named`,
    spec.restKeys !== lua.slots.restKeys && `KEYS tail ${lua.slots.restKeys} in the header, ${spec.restKeys} named`,
    spec.restArgs !== lua.slots.restArgs && `ARGV tail ${lua.slots.restArgs} in the header, ${spec.restArgs} named`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new Error(`${lua.name}.lua: ${problems.join('; ')}`);
}

/**
 * EVALSHA; on NOSCRIPT (first use since a Redis start or SCRIPT FLUSH) one
 * EVAL, which also caches the script in Redis, so the text is sent once.
 */
async function evalCached(redis: Redis, lua: LuaSource, keys: readonly string[], args: readonly Value[]): Promise<unknown> {
  try {
    return await redis.evalsha(lua.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return redis.eval(lua.source, keys.length, ...keys, ...args);
  }
}
