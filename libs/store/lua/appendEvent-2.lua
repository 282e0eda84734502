--[[
  Appends an event that is not a pod's phase change (a pin, pool or
  checkpoint changed) to the all-events stream and the tenant's stream,
  under one id (see includes/appendEvent).

  KEYS[1] allEvents
  KEYS[2] tenantEvents
  ARGV[1] tenant
  ARGV[2] kind       pin | pool | checkpoint
  ARGV[3] resource   the pin, pool or checkpoint id
  ARGV[4] podEvents  the stream of the pod it concerns, also written ('' for none)
  ARGV[5] data       JSON

  Returns the event id.
]]
--- @include "appendEvent"
return appendEvent(KEYS[1], KEYS[2], ARGV[4], ARGV[1], ARGV[2], ARGV[3], ARGV[5])
