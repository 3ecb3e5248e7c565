// The onion call-home's local link: the Tor VM's one NIC to the agent, a QEMU user-mode network that reaches nothing
// (restrict=on) but the agent's own doors for the onion service (guestfwd, one connection each), never a network of
// the host's. Link-local addresses: no network of a recipe uses them and nothing routes them.
export const ONION_IFNAME = 'agent';
export const ONION_NET = '169.254.64.0/24';
// QEMU's own address on the link (its user-mode "host"; nothing answers there with restrict=on).
export const ONION_LINK_HOST = '169.254.64.2';
// Where the agent's doors are, as the Tor VM sees them: a forward of QEMU's (it may not be QEMU's own address).
export const ONION_AGENT_ADDRESS = '169.254.64.100';
// The Tor VM's address on the link.
export const ONION_ROUTER_ADDRESS = '169.254.64.15';
export const ONION_PREFIX = 24;
// The onion service's virtual ports, which are also the doors' ports on the link: the SSH jail and the API (plain
// HTTP: the onion connection is end-to-end encrypted and authenticated already).
export const ONION_PORTS = { ssh: 22, api: 80 } as const;
// The service's folder in the Tor VM (its key and authorized_clients).
export const ONION_SERVICE_DIR = '/var/lib/tor/onion';
// Connections Tor may have open to each door at once; the agent closes the rest at once.
export const ONION_MAX_CONNECTIONS = 16;
