--[[
  Moves a pod to a phase if it is in one of the allowed phases (a phase
  that ends a pod placed on a node goes through endPodOnNode-3 instead),
  and appends the pod's event (see includes/appendEvent) in the same step.

  KEYS[1] status
  ARGV[1] to
  ARGV[2] nowIso
  ARGV[3] allowedCsv
  ARGV[4] podId
  ARGV[5] allEvents         stream of every event (built from the prefix; the tenant is read from the pod);
                            '' when the event log is off: no event is appended
  ARGV[6] tenantEventsStem  the tenant is appended for its stream
  ARGV[7] podEventsStem     the pod id is appended for its stream
  ARGV[8...] fields  field, value, ...: set with the phase ('' deletes)

  Returns {applied 1|0, phase before ('' when there is no such pod)}.
]]
--- @include "transitionPod"
--- @include "appendEvent"
local applied, before = transitionPod(KEYS[1], ARGV[1], ARGV[2], ARGV[3], 8)
if applied then appendPodEvent(ARGV[5], ARGV[6], ARGV[7], KEYS[1], ARGV[4], before) end
return {applied and 1 or 0, before or ''}
