import { z } from 'zod';

/**
 * ioredis hands pipeline replies back untyped, as `[error, reply]` pairs.
 * These turn them into checked values: the first error is thrown, and each
 * reply is parsed with the shape its command returns.
 */
export function pipelineReplies(results: Array<[Error | null, unknown]> | null): unknown[] {
  return (results ?? []).map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

/** SMEMBERS, HKEYS, ZRANGE. */
export const stringList = z.array(z.string());
/** HMGET: null for a missing field. */
export const fieldList = z.array(z.string().nullable());
/** HGETALL. */
export const stringHash = z.record(z.string(), z.string());
