--[[
  A tenant's use of every quota, recomputed from its records (see
  tenantUse.lua); drops ledger entries of pods that ended.

  KEYS[1] quotaPods
  KEYS[2] tenantPins
  KEYS[3] tenantPools
  KEYS[4] tenantCheckpoints
  ARGV[1] statusStem
  ARGV[2] pinStem
  ARGV[3] poolStem
  ARGV[4] checkpointStem
  ARGV[5] lostBeforeIso

  Returns {pods, cpuMilli, memoryMiB, gpu, pins, pinBytes, poolPods, checkpoints, checkpointBytes}.
]]
--- @include "tenantUse"
local pods = podUse(KEYS[1], ARGV[1], ARGV[5])
local pins = pinUse(KEYS[2], ARGV[2], '')
local pools = poolUse(KEYS[3], ARGV[3], '')
local ckpts = checkpointUse(KEYS[4], ARGV[4])
return {pods.pods, pods.cpuMilli, pods.memoryMiB, pods.gpu, pins.pins, pins.pinBytes, pools.poolPods, ckpts.checkpoints,
  ckpts.checkpointBytes}
