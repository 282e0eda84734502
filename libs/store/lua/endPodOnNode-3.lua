--[[
  Moves a pod to a phase that ends it, if it is in one of the allowed
  phases, and in the same step releases its reservation on its node,
  announces the freed capacity (the scheduler's backlog and placement
  views listen) and appends the pod's event (see includes/appendEvent).

  KEYS[1] status
  KEYS[2] usage         the node's reserved totals
  KEYS[3] reservations  the node's reservation per pod
  ARGV[1] to
  ARGV[2] nowIso
  ARGV[3] allowedCsv
  ARGV[4] podId
  ARGV[5] channel       capacity:freed
  ARGV[6] nodeId
  ARGV[7] allEvents         stream of every event; '' when the event log is off: no event is appended
  ARGV[8] tenantEventsStem  the tenant is appended for its stream
  ARGV[9] podEventsStem     the pod id is appended for its stream
  ARGV[10...] fields  field, value, ...: set with the phase ('' deletes)

  Returns {applied 1|0, phase before ('' when there is no such pod)}.
]]
--- @include "transitionPod"
--- @include "releaseReservation"
--- @include "appendEvent"
local applied, before = transitionPod(KEYS[1], ARGV[1], ARGV[2], ARGV[3], 10)
if applied then
  releaseReservation(KEYS[2], KEYS[3], ARGV[4], ARGV[5], ARGV[6])
  appendPodEvent(ARGV[7], ARGV[8], ARGV[9], KEYS[1], ARGV[4], before)
end
return {applied and 1 or 0, before or ''}
