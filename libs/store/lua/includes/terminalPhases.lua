-- Pod phases that end a pod (see pod-phase.ts TERMINAL_PHASES).
local TERMINAL = {Succeeded = true, Failed = true, Stopped = true, Lost = true}
