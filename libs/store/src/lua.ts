/**
 * Multi-key invariants, each one atomic script. Kept together so the whole
 * state machine of a pod record and a node's capacity can be read at once.
 */

/** KEYS: spec, status, tenantIndex, idem. ARGV: specJson, createdMs, podId, bodyHash, idemTtlSec, createdIso. */
export const CREATE_POD = `
if KEYS[4] ~= '' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {'exists', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'collision', ''} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'phase', 'Pending', 't:Pending', ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4] .. ' ' .. ARGV[3], 'EX', ARGV[5]) end
return {'created', ARGV[3]}
`;

/** Rolls back a pod that was created but could not be enqueued. KEYS: spec, status, tenantIndex, idem. ARGV: podId. */
export const DELETE_POD = `
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
if KEYS[4] ~= '' then
  local v = redis.call('GET', KEYS[4])
  if v and string.sub(v, -string.len(ARGV[1])) == ARGV[1] then redis.call('DEL', KEYS[4]) end
end
return 1
`;

/**
 * Every change of a node's usage bumps its `rev` field, so a reader holding
 * usage from several sources (reservation replies, freed-capacity messages,
 * bulk reads) keeps the newest. A freed-capacity message is
 * `nodeId cpuMilli memoryMiB gpu rev`: the usage after the release, so a
 * scheduler's view updates the node without reading it.
 */
const USAGE_AFTER_RELEASE = `
local function usageAfterRelease(usageKey)
  local rev = redis.call('HINCRBY', usageKey, 'rev', 1)
  local u = redis.call('HMGET', usageKey, 'cpuMilli', 'memoryMiB', 'gpu')
  return (u[1] or '0') .. ' ' .. (u[2] or '0') .. ' ' .. (u[3] or '0') .. ' ' .. rev
end
`;

/**
 * Moves a pod to a phase if it is in one of the allowed phases; when the
 * new phase ends the pod, releases its reservation in the same step and
 * announces the freed capacity with the node's usage after it (see
 * USAGE_AFTER_RELEASE; the scheduler's backlog and placement view listen).
 * KEYS: status, usage, reservations (usage/reservations may be unused).
 * ARGV: to, iso, allowedCsv, releaseFlag, podId, channel, nodeId, field1, value1, ...
 */
export const TRANSITION = `${USAGE_AFTER_RELEASE}
local phase = redis.call('HGET', KEYS[1], 'phase')
if not phase then return {0, ''} end
local allowed = false
for p in string.gmatch(ARGV[3], '[^,]+') do if p == phase then allowed = true end end
if not allowed then return {0, phase} end
redis.call('HSET', KEYS[1], 'phase', ARGV[1], 't:' .. ARGV[1], ARGV[2])
for i = 8, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
if ARGV[4] == '1' then
  local r = redis.call('HGET', KEYS[3], ARGV[5])
  if r then
    local cpu, mem, gpu = string.match(r, '(%d+) (%d+) (%d+)')
    redis.call('HINCRBY', KEYS[2], 'cpuMilli', 0 - tonumber(cpu))
    redis.call('HINCRBY', KEYS[2], 'memoryMiB', 0 - tonumber(mem))
    redis.call('HINCRBY', KEYS[2], 'gpu', 0 - tonumber(gpu))
    redis.call('HDEL', KEYS[3], ARGV[5])
    redis.call('PUBLISH', ARGV[6], ARGV[7] .. ' ' .. usageAfterRelease(KEYS[2]))
  end
end
return {1, phase}
`;

/**
 * Reserves capacity for a pod on a node, or refuses. Idempotent per pod.
 * Returns {outcome (1 reserved, 0 no room, -1 unknown node), cpuMilli, memoryMiB, gpu, rev}
 * with the node's usage after the call, so a caller can correct its view. A new
 * reservation is announced like a release (other replicas' views learn of it
 * without a read). KEYS: node, usage, reservations. ARGV: podId, cpuMilli,
 * memoryMiB, gpu, channel, nodeId (the last two optional).
 */
export const RESERVE = `
local used = redis.call('HMGET', KEYS[2], 'cpuMilli', 'memoryMiB', 'gpu', 'rev')
local cpu0, mem0, gpu0, rev0 = tonumber(used[1] or '0'), tonumber(used[2] or '0'), tonumber(used[3] or '0'), tonumber(used[4] or '0')
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return {1, cpu0, mem0, gpu0, rev0} end
local cap = redis.call('HMGET', KEYS[1], 'capCpuMilli', 'capMemoryMiB', 'capGpu')
if not cap[1] then return {-1, cpu0, mem0, gpu0, rev0} end
local cpu, mem, gpu = cpu0 + tonumber(ARGV[2]), mem0 + tonumber(ARGV[3]), gpu0 + tonumber(ARGV[4])
if cpu > tonumber(cap[1]) or mem > tonumber(cap[2]) or gpu > tonumber(cap[3]) then return {0, cpu0, mem0, gpu0, rev0} end
redis.call('HSET', KEYS[2], 'cpuMilli', cpu, 'memoryMiB', mem, 'gpu', gpu, 'rev', rev0 + 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
if ARGV[5] then redis.call('PUBLISH', ARGV[5], ARGV[6] .. ' ' .. cpu .. ' ' .. mem .. ' ' .. gpu .. ' ' .. (rev0 + 1)) end
return {1, cpu, mem, gpu, rev0 + 1}
`;

// Note: Lua's `-0` is refused by HINCRBY ("not an integer"), hence `0 - n` in the scripts above and below.

/** KEYS: usage, reservations. ARGV: podId, channel, nodeId. */
export const RELEASE = `${USAGE_AFTER_RELEASE}
local r = redis.call('HGET', KEYS[2], ARGV[1])
if not r then return 0 end
local cpu, mem, gpu = string.match(r, '(%d+) (%d+) (%d+)')
redis.call('HINCRBY', KEYS[1], 'cpuMilli', 0 - tonumber(cpu))
redis.call('HINCRBY', KEYS[1], 'memoryMiB', 0 - tonumber(mem))
redis.call('HINCRBY', KEYS[1], 'gpu', 0 - tonumber(gpu))
redis.call('HDEL', KEYS[2], ARGV[1])
local usage = usageAfterRelease(KEYS[1])
if ARGV[2] then redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. usage) end
return 1
`;

/**
 * A node's cache inventory is its images hash (digest -> `sizeBytes layerCount`)
 * plus, once per digest for all nodes, the layers under `layers:<digest>`
 * (content-addressed, so the first report is kept). Each change bumps the
 * node's `imagesRev`, so a reader re-reads only inventories that changed.
 * putImages(images, keyFrom, argFrom, count): ARGV triples (digest, entry,
 * layersJson or '') from argFrom; KEYS from keyFrom are the layers keys.
 */
const PUT_IMAGES = `
local function putImages(images, keyFrom, argFrom, count)
  for i = 0, count - 1 do
    local a = argFrom + 3 * i
    redis.call('HSET', images, ARGV[a], ARGV[a + 1])
    if ARGV[a + 2] ~= '' then redis.call('SET', KEYS[keyFrom + i], ARGV[a + 2], 'NX') end
  end
end
`;

/**
 * Refreshes liveness and replaces the cache inventory of a registered node
 * (sizes only); refuses (0) an unknown node so that no stray record is created.
 * KEYS: nodes, node, images. ARGV: nodeId, iso, channel, digest1, entry1, ...
 */
export const HEARTBEAT = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'heartbeatAt', ARGV[2])
redis.call('DEL', KEYS[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('HINCRBY', KEYS[2], 'imagesRev', 1)
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
`;

// Node registry scripts. Every applied change of registration, inventory,
// cordon or loss PUBLISHes the node id on the nodes-changed channel, so
// scheduler replicas can refresh their view of it. Liveness alone does not:
// readers re-check heartbeats on their own timer.

/**
 * (Re)registers a node: registration fields, a new agent session (or none),
 * the lost mark cleared. KEYS: nodes, node. ARGV: nodeId, channel, sessionId, field1, value1, ...
 */
export const REGISTER_NODE = `
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if ARGV[3] == '' then redis.call('HDEL', KEYS[2], 'sessionId') else redis.call('HSET', KEYS[2], 'sessionId', ARGV[3]) end
redis.call('HDEL', KEYS[2], 'lostAt')
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
`;

/**
 * The guard every session-scoped write starts with: 0 unknown node, -1 another
 * session holds the node, -2 the node was declared lost (its agent must register again).
 * KEYS: nodes, node. ARGV: nodeId, sessionId.
 */
const SESSION_GUARD = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[2], 'sessionId') ~= ARGV[2] then return -1 end
if redis.call('HEXISTS', KEYS[2], 'lostAt') == 1 then return -2 end
`;

/**
 * Replaces a node's whole inventory (first report of a session).
 * KEYS: nodes, node, images, layersKey1, ... ARGV: nodeId, sessionId, iso, channel, runningPodsJson,
 * checkpointsJson, usageJson ('' when not reported), then per image: digest, entry, layersJson.
 */
export const NODE_INVENTORY = `${PUT_IMAGES}${SESSION_GUARD}
redis.call('HSET', KEYS[2], 'heartbeatAt', ARGV[3], 'inventoryAt', ARGV[3], 'runningPods', ARGV[5], 'checkpoints', ARGV[6])
if ARGV[7] == '' then redis.call('HDEL', KEYS[2], 'reportedUsage') else redis.call('HSET', KEYS[2], 'reportedUsage', ARGV[7]) end
redis.call('DEL', KEYS[3])
putImages(KEYS[3], 4, 8, (#ARGV - 7) / 3)
redis.call('HINCRBY', KEYS[2], 'imagesRev', 1)
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1
`;

/**
 * Applies a change report: removed images, then added ones; running pods,
 * checkpoints and usage are full lists and replace what was there.
 * KEYS: nodes, node, images, layersKey1, ... (one per added image). ARGV: nodeId, sessionId,
 * iso, channel, runningPodsJson, checkpointsJson, usageJson, addedCount, then per added
 * image: digest, entry, layersJson; then removedDigest1, ...
 */
export const NODE_DELTA = `${PUT_IMAGES}${SESSION_GUARD}
redis.call('HSET', KEYS[2], 'heartbeatAt', ARGV[3], 'runningPods', ARGV[5], 'checkpoints', ARGV[6])
if ARGV[7] == '' then redis.call('HDEL', KEYS[2], 'reportedUsage') else redis.call('HSET', KEYS[2], 'reportedUsage', ARGV[7]) end
local added = tonumber(ARGV[8])
for i = 9 + 3 * added, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
putImages(KEYS[3], 4, 9, added)
if added > 0 or #ARGV > 8 + 3 * added then redis.call('HINCRBY', KEYS[2], 'imagesRev', 1) end
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1
`;

/** Refreshes liveness within a session; announces nothing (see above). KEYS: nodes, node. ARGV: nodeId, sessionId, iso. */
export const NODE_TOUCH = `${SESSION_GUARD}
redis.call('HSET', KEYS[2], 'heartbeatAt', ARGV[3])
return 1
`;

/**
 * Adds one image to a registered node's cache inventory.
 * KEYS: nodes, node, images, layersKey. ARGV: nodeId, digest, entry, layersJson, channel.
 */
export const ADD_CACHED_IMAGE = `${PUT_IMAGES}
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
putImages(KEYS[3], 4, 2, 1)
redis.call('HINCRBY', KEYS[2], 'imagesRev', 1)
redis.call('PUBLISH', ARGV[5], ARGV[1])
return 1
`;

/** KEYS: nodes, node. ARGV: nodeId, 'true'|'false', channel. */
export const SET_CORDONED = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'cordoned', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
`;

/** KEYS: nodes, node, images. ARGV: nodeId, channel. */
export const DEREGISTER_NODE = `
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
`;

/**
 * Marks a node lost once: only when its heartbeat is older than ARGV[1] (ISO
 * timestamps compare as strings) and it is not marked yet, so exactly one
 * scheduler replica acts on a node's death. KEYS: node. ARGV: staleBeforeIso, nowIso, channel, nodeId.
 */
export const MARK_LOST = `
local hb = redis.call('HGET', KEYS[1], 'heartbeatAt')
if not hb or hb >= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[1], 'lostAt') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'lostAt', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;
