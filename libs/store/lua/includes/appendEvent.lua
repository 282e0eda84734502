-- Appends one event: first to the all-events stream under a fresh id, then
-- under that same id to the tenant's stream and, for an event about a pod,
-- to the pod's stream (`podKey` '' for none). Every event enters `all`
-- first, so its id is above every id in any stream and the explicit XADDs
-- never go backwards. Each stream is trimmed to about its bound (MAXLEN ~;
-- EVENT_BOUNDS in src/event-log.ts says the same); a pod's stream expires a
-- day after its last event. Returns the event id.
local function appendEvent(allKey, tenantKey, podKey, tenant, kind, resource, data)
  local fields = {'tenant', tenant, 'kind', kind, 'resource', resource, 'data', data}
  local id = redis.call('XADD', allKey, 'MAXLEN', '~', 10000, '*', unpack(fields))
  redis.call('XADD', tenantKey, 'MAXLEN', '~', 1000, id, unpack(fields))
  if podKey ~= '' then
    redis.call('XADD', podKey, 'MAXLEN', '~', 200, id, unpack(fields))
    redis.call('EXPIRE', podKey, 86400)
  end
  return id
end

-- The event of a pod whose status hash is `status` after a phase change:
-- the phase, the one before and the fields a follower asks about. Pods
-- stored before events existed have no `tenant` field and announce nothing.
-- `allKey` '' is the event log switched off (WARMPOD_EVENTS=off): nothing
-- is read or written.
local function appendPodEvent(allKey, tenantStem, podStem, status, podId, previous)
  if allKey == '' then return nil end
  local s = redis.call('HMGET', status, 'tenant', 'phase', 'node', 'startMode', 'message', 'exitCode', 'error')
  if not s[1] then return nil end
  local data = {phase = s[2], at = redis.call('HGET', status, 't:' .. s[2])}
  if previous then data.previous = previous end
  if s[3] then data.node = s[3] end
  if s[4] then data.startMode = s[4] end
  if s[5] then data.message = s[5] end
  if s[6] then data.exitCode = tonumber(s[6]) end
  if s[7] then data.error = s[7] end
  return appendEvent(allKey, tenantStem .. s[1], podStem .. podId, s[1], 'pod', podId, cjson.encode(data))
end
