/** Connector priority of the relay: after hole punching (10). */
export const RELAY_PRIORITY = 20
