--[[
  Gives a pod's reservation back and announces the node's usage after it.

  KEYS[1] usage
  KEYS[2] reservations
  ARGV[1] podId
  ARGV[2] channel       capacity:freed
  ARGV[3] nodeId

  Returns 1, or 0 when the pod held no reservation on the node.
]]
--- @include "releaseReservation"
return releaseReservation(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
