--[[
  Moves a pod to a phase if it is in one of the allowed phases (a phase
  that ends a pod placed on a node goes through endPodOnNode-3 instead).

  KEYS[1] status
  ARGV[1] to
  ARGV[2] nowIso
  ARGV[3] allowedCsv
  ARGV[4...] fields  field, value, ...: set with the phase ('' deletes)

  Returns {applied 1|0, phase before ('' when there is no such pod)}.
]]
--- @include "transitionPod"
local applied, before = transitionPod(KEYS[1], ARGV[1], ARGV[2], ARGV[3], 4)
return {applied and 1 or 0, before or ''}
