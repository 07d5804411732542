/**
 * The servers of the `wormhole` program, used when none are given: a module of their own
 * so that the command line can show them in its help without loading the protocol.
 * @module
 */

/** The rendezvous server of the `wormhole` program. */
export const DEFAULT_RELAY_URL = "ws://relay.magic-wormhole.io:4000/v1";
/** The transit relay of the `wormhole` program. */
export const DEFAULT_TRANSIT_HELPER = "tcp:transit.magic-wormhole.io:4001";
