/**
 * Warm pool invariants, one atomic script each, so any number of scheduler
 * replicas and gateways can act on a pool at once: a claim hands a pod to
 * exactly one caller, a member is admitted only while the pool is short on
 * its current digest, and a member is retired exactly once, only when the
 * rule for its case holds at that instant.
 *
 * Members are read with their pod's status hash (`<statusPrefix><podId>`),
 * which the pod lifecycle keeps; a member whose pod record does not exist yet
 * is counted as live for a grace period (its creator is writing it).
 */

/** Phases and live-ness of members, against the pool's current digest. */
const CENSUS = `
local TERMINAL = {Succeeded = true, Failed = true, Stopped = true, Lost = true}
local function podState(statusPrefix, podId)
  local s = redis.call('HMGET', statusPrefix .. podId, 'phase', 'stopRequested')
  return s[1], s[2] == 'true'
end
local function isLive(phase, stopping, at, nowMs, graceMs)
  if phase then return not TERMINAL[phase] and not stopping end
  return (nowMs - tonumber(at)) < graceMs
end
local function census(membersKey, statusPrefix, current, nowMs, graceMs)
  local c = {liveCur = 0, runningCur = 0, runningOld = 0}
  local all = redis.call('HGETALL', membersKey)
  for i = 1, #all, 2 do
    local digest, at = string.match(all[i + 1], '^(%S+) (%d+)$')
    local phase, stopping = podState(statusPrefix, all[i])
    if isLive(phase, stopping, at, nowMs, graceMs) then
      if digest == current then
        c.liveCur = c.liveCur + 1
        if phase == 'Running' then c.runningCur = c.runningCur + 1 end
      elseif phase == 'Running' then
        c.runningOld = c.runningOld + 1
      end
    end
  end
  return c
end
`;

/**
 * KEYS: pool, names, pools, tenantPools. ARGV: id, nameField, defJson, imageJson, digest, size, nowIso, channel.
 * Returns {'created', id} or {'exists', idOfTheOther}.
 */
export const CREATE_POOL = `
local other = redis.call('HGET', KEYS[2], ARGV[2])
if other then return {'exists', other} end
redis.call('HSET', KEYS[1], 'def', ARGV[3], 'image', ARGV[4], 'digest', ARGV[5], 'size', ARGV[6], 'state', 'active',
  'generation', 1, 'pinnedAt', ARGV[7], 'updatedAt', ARGV[7], 'failStreak', 0, 'backoffUntil', 0)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[8], ARGV[1])
return {'created', ARGV[1]}
`;

/**
 * Resizes and/or moves an active pool to a new image; a new digest starts a
 * rotation (generation + 1, the old digest remembered). In the same step,
 * every pod of an older digest that is not Running yet is retired (as
 * RETIRE_MEMBER's superseded case) and marked stop-requested, so an agent
 * that has not begun starting it never will: no pod starts on the old
 * digest after the move.
 * KEYS: pool, members, retiring, stats. ARGV: size ('' keeps it), imageJson ('' keeps it), digest ('' keeps it),
 * nowIso, channel, id, statusPrefix, message, nowMs.
 * Returns -1 when the pool is not active, 1 when the digest changed, else 0.
 */
export const UPDATE_POOL = `
local TERMINAL = {Succeeded = true, Failed = true, Stopped = true, Lost = true}
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return -1 end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'size', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'image', ARGV[2]) end
local rotated = 0
local old = redis.call('HGET', KEYS[1], 'digest')
if ARGV[3] ~= '' and old ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'digest', ARGV[3], 'previousDigest', old, 'pinnedAt', ARGV[4], 'failStreak', 0, 'backoffUntil', 0)
  redis.call('HINCRBY', KEYS[1], 'generation', 1)
  rotated = 1
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    if string.match(all[i + 1], '^(%S+) ') ~= ARGV[3] then
      local status = ARGV[7] .. all[i]
      local phase = redis.call('HGET', status, 'phase')
      if phase and phase ~= 'Running' and not TERMINAL[phase] then
        redis.call('HDEL', KEYS[2], all[i])
        redis.call('ZADD', KEYS[3], ARGV[9], all[i])
        redis.call('HSET', status, 'stopRequested', 'true', 'message', ARGV[8])
        redis.call('HINCRBY', KEYS[4], 'retired:' .. string.match(all[i + 1], '^(%S+) '), 1)
      end
    end
  end
end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return rotated
`;

/**
 * Starts draining: the name is free at once, claims stop, the controller retires every member.
 * KEYS: pool, names. ARGV: nameField, id, nowIso, channel. Returns 1, or 0 when not active.
 */
export const DRAIN_POOL = `
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
redis.call('HSET', KEYS[1], 'state', 'draining', 'updatedAt', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
`;

/**
 * Removes a drained pool once nothing of it runs. KEYS: pool, members, retiring, stats, pools, tenantPools, oldPins.
 * ARGV: id. Returns 1 when removed.
 */
export const FINISH_DRAIN = `
if redis.call('HGET', KEYS[1], 'state') ~= 'draining' then return 0 end
if redis.call('HLEN', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[7])
redis.call('SREM', KEYS[5], ARGV[1])
redis.call('SREM', KEYS[6], ARGV[1])
return 1
`;

/**
 * Admits a new warm pod of the pool's current digest while the pool has
 * fewer live pods of that digest than its size, and is not backing off.
 * KEYS: pool, members, stats. ARGV: statusPrefix, podId, digest, nowMs, graceMs.
 * Returns 'admitted', 'full', 'stale' (the digest moved), 'backoff' or 'inactive'.
 */
export const ADMIT_MEMBER = `${CENSUS}
local p = redis.call('HMGET', KEYS[1], 'state', 'digest', 'size', 'backoffUntil')
if p[1] ~= 'active' then return 'inactive' end
if p[2] ~= ARGV[3] then return 'stale' end
local now = tonumber(ARGV[4])
if tonumber(p[4] or '0') > now then return 'backoff' end
local c = census(KEYS[2], ARGV[1], p[2], now, tonumber(ARGV[5]))
if c.liveCur >= tonumber(p[3]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. ARGV[4])
redis.call('HINCRBY', KEYS[3], 'started:' .. ARGV[3], 1)
return 'admitted'
`;

/**
 * Hands one Running warm pod to a caller: one of the current digest when
 * any is free, an older one only when none is. The pod leaves the pool in
 * the same step, so two claims never get the same pod; the pool is told to
 * refill. Honours an idempotency key like pod creation does.
 * KEYS: pool, members, stats, idem ('' for none).
 * ARGV: statusPrefix, bodyHash, idemTtlSec, message, channel, poolId.
 * Returns {'claimed', podId, digest}, {'none'}, {'inactive'} or {'exists', 'bodyHash podId'}.
 */
export const CLAIM_WARM_POD = `
if KEYS[4] ~= '' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {'exists', existing} end
end
local p = redis.call('HMGET', KEYS[1], 'state', 'digest')
if p[1] ~= 'active' then return {'inactive'} end
local all = redis.call('HGETALL', KEYS[2])
local best = {}
for i = 1, #all, 2 do
  local digest, at = string.match(all[i + 1], '^(%S+) (%d+)$')
  local s = redis.call('HMGET', ARGV[1] .. all[i], 'phase', 'stopRequested')
  if s[1] == 'Running' and s[2] ~= 'true' then
    local tier = digest == p[2] and 1 or 2
    local at_n = tonumber(at)
    if not best[tier] or at_n < best[tier].at then best[tier] = {pod = all[i], digest = digest, at = at_n} end
  end
end
local pick = best[1] or best[2]
if not pick then return {'none'} end
redis.call('HDEL', KEYS[2], pick.pod)
redis.call('HSET', ARGV[1] .. pick.pod, 'startMode', 'warm-pool', 'message', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'claimed:' .. pick.digest, 1)
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[2] .. ' ' .. pick.pod, 'EX', ARGV[3]) end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {'claimed', pick.pod, pick.digest}
`;

/**
 * Retires a member exactly once, only when its case allows it now:
 *  - drain: the pool is draining;
 *  - superseded: an older digest's pod that is not Running (it must never start);
 *  - rotate: an older digest's Running pod, only while the Running pods left
 *    after it still number at least the size (so a replacement is Running);
 *  - shrink: a current pod, only while more live current pods than the size remain.
 * The pod is marked stop-requested (claims skip it) and listed as retiring.
 * KEYS: pool, members, retiring, stats. ARGV: statusPrefix, podId, mode, nowMs, graceMs, message.
 * Returns 'retired', 'absent' (not a member), 'ended' (its pod has ended: prune it) or 'refused'.
 */
export const RETIRE_MEMBER = `${CENSUS}
local m = redis.call('HGET', KEYS[2], ARGV[2])
if not m then return 'absent' end
local digest = string.match(m, '^(%S+) ')
local phase = podState(ARGV[1], ARGV[2])
if phase and TERMINAL[phase] then return 'ended' end
local p = redis.call('HMGET', KEYS[1], 'state', 'digest', 'size')
local mode = ARGV[3]
local ok = false
if mode == 'drain' then
  ok = p[1] == 'draining'
elseif mode == 'superseded' then
  ok = digest ~= p[2] and phase ~= 'Running'
else
  local c = census(KEYS[2], ARGV[1], p[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
  local size = tonumber(p[3])
  if mode == 'rotate' then
    ok = digest ~= p[2] and phase == 'Running' and c.runningCur + c.runningOld - 1 >= size
  elseif mode == 'shrink' then
    ok = digest == p[2] and c.liveCur - 1 >= size
  end
end
if not ok then return 'refused' end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
if phase then redis.call('HSET', ARGV[1] .. ARGV[2], 'stopRequested', 'true', 'message', ARGV[6]) end
redis.call('HINCRBY', KEYS[4], 'retired:' .. digest, 1)
return 'retired'
`;

/**
 * Drops a member whose pod has ended (or whose record never appeared within
 * the grace period). A pod that exited on its own (Succeeded or Failed) before
 * anyone claimed it puts the pool in an exponential backoff, so a template
 * that cannot stay up is not restarted in a tight loop.
 * KEYS: pool, members, stats. ARGV: statusPrefix, podId, nowMs, graceMs, backoffBaseMs, backoffMaxMs.
 * Returns the ended phase ('missing' without a record), 'live', or 'absent'.
 */
export const PRUNE_MEMBER = `${CENSUS}
local m = redis.call('HGET', KEYS[2], ARGV[2])
if not m then return 'absent' end
local at = string.match(m, ' (%d+)$')
local now = tonumber(ARGV[3])
local phase, stopping = podState(ARGV[1], ARGV[2])
if phase then
  if not TERMINAL[phase] then return 'live' end
elseif (now - tonumber(at)) < tonumber(ARGV[4]) then
  return 'live'
end
redis.call('HDEL', KEYS[2], ARGV[2])
local ended = phase or 'missing'
redis.call('HINCRBY', KEYS[3], 'ended:' .. ended, 1)
if phase == 'Failed' or phase == 'Succeeded' then
  local streak = redis.call('HINCRBY', KEYS[1], 'failStreak', 1)
  local wait = math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ math.min(streak - 1, 20))
  redis.call('HSET', KEYS[1], 'backoffUntil', now + wait)
end
return ended
`;

/**
 * Records the pin that warms the pool's current digest; an owned pin of an
 * earlier reference is remembered for removal once the pool no longer runs it.
 * KEYS: pool, oldPins. ARGV: digest, pinId, owned ('1'|'0'). Returns 0 when the digest moved meanwhile.
 */
export const SET_POOL_PIN = `
local p = redis.call('HMGET', KEYS[1], 'digest', 'pinId', 'pinOwned')
if p[1] ~= ARGV[1] then return 0 end
if p[2] == ARGV[2] then
  if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'pinOwned', '1') end
  return 1
end
if p[2] and p[3] == '1' then redis.call('SADD', KEYS[2], p[2]) end
redis.call('HSET', KEYS[1], 'pinId', ARGV[2], 'pinOwned', ARGV[3], 'pinDigest', ARGV[1])
return 1
`;

/**
 * Lets one caller send the stop of a retired pod, then no one again until
 * `resendMs` has passed (the score of a retiring pod is when its stop may be sent).
 * KEYS: retiring. ARGV: podId, nowMs, resendMs. Returns 1 for the caller that sends.
 */
export const CLAIM_STOP = `
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return 1
`;
