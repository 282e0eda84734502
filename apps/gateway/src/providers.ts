/** Injection tokens for values that have no class of their own. */
export const CONFIG = Symbol('GatewayConfig');
export const LOGGER = Symbol('Logger');
export const REDIS = Symbol('Redis');
