// The host's way out for its own connections (the fleet's brokers): the host has no network, so the agent reaches a
// broker through its router VM. The router gets a local link to the agent, a QEMU user-mode network that reaches
// nothing (restrict=on) and carries only forwards from the host's loopback to the router (hostfwd); in the router an
// unprivileged relay joins each forward to its one broker through the uplink. The agent cannot name any other
// destination: the list is fixed in the host config. Link-local addresses, like the onion link's, on another subnet.
export const EGRESS_IFNAME = 'egress';
export const EGRESS_NET = '169.254.65.0/24';
// QEMU's own address on the link: every forwarded connection comes from it.
export const EGRESS_LINK_HOST = '169.254.65.2';
// The router's address on the link, where its relays listen.
export const EGRESS_ROUTER_ADDRESS = '169.254.65.15';
export const EGRESS_PREFIX = 24;
// The relay of the i-th destination listens on this port plus i.
export const EGRESS_FIRST_PORT = 7400;
// The most destinations a router relays (the fleet's brokers).
export const MAX_EGRESS_TARGETS = 16;
// The user the relays run as in a router (rootfs/router/overlay/etc/passwd): the ruleset lets only its packets out to
// the destinations' ports.
export const EGRESS_UID = 102;

// One destination: a broker's name or address and port, as the recipe gave it.
export interface EgressTarget {
  host: string;
  port: number;
}

// Where the agent connects for the i-th destination: its own loopback address (so that each destination keeps its
// port and a TLS name can be told apart by address), forwarded by QEMU to the router's relay.
export function egressLocalEndpoint(index: number, target: EgressTarget): { address: string; port: number } {
  return { address: `127.77.0.${index + 1}`, port: target.port };
}

// The router's relay port for the i-th destination.
export function egressRelayPort(index: number): number {
  return EGRESS_FIRST_PORT + index;
}
