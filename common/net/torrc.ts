// A Tor gateway's torrc: Tor as a transparent proxy for the router's Tor networks (TransPort and DNSPort, each VM its
// own circuits), as its own user, with nothing else open. Handed to the router over fw_cfg like its ruleset.
import { ONION_AGENT_ADDRESS, ONION_PORTS, ONION_SERVICE_DIR } from './onion-link.ts';
import type { RouterPlan } from './plan.ts';

// Where the VMs' names for onion and mapped addresses come from: a range no network of ours uses and a VM routes to
// its gateway (Tor's default, 127.192.0.0/10, would be a VM's own loopback).
export const TOR_VIRTUAL_NETWORK = '10.192.0.0/10';

// The gateway's Tor control port, on its loopback.
export const TOR_CONTROL_PORT = 9051;

// Where the gateway's Tor logs (what its bootstrap progress is read from).
export const TOR_LOG = '/var/lib/tor/notice.log';

// The onion service's lines: its folder (the agent's key and authorized_clients go there), the SSH jail and the API at
// the agent's end of the local link, and bounds on what one circuit may open.
function onionLines(): string[] {
  return [
    `HiddenServiceDir ${ONION_SERVICE_DIR}`,
    'HiddenServiceVersion 3',
    ...Object.values(ONION_PORTS).map((port) => `HiddenServicePort ${port} ${ONION_AGENT_ADDRESS}:${port}`),
    // One circuit never holds more than a few streams (a login, a console, a list); more ends the circuit.
    'HiddenServiceMaxStreams 8',
    'HiddenServiceMaxStreamsCloseCircuit 1',
  ];
}

// The router's torrc; empty when it serves no Tor network and publishes no onion service.
export function torrcFile(plan: RouterPlan): string {
  const networks = plan.networks.filter((n) => n.tor);
  const tor = networks.flatMap((n) => (n.tor ? [n.tor] : []));
  const onion = plan.router.onion !== undefined;
  if (tor.length === 0 && !onion) return '';
  const authorities = [...new Set(tor.flatMap((t) => t.testingAuthorities ?? []))];
  const serves = [...networks.map((n) => n.name), ...(onion ? ["the host's onion service"] : [])];
  const lines = [
    `# Tor for ${serves.join(', ')} (written by the agent)`,
    'User debian-tor',
    'DataDirectory /var/lib/tor',
    // Tor opens its log after it became its own user: in its own folder.
    `Log notice file ${TOR_LOG}`,
    'RunAsDaemon 0',
    'SocksPort 0',
    // Only on the networks' gateway addresses (where the ruleset redirects to), never the uplink. Each VM has its own
    // address: IsolateClientAddr gives each its own circuits.
    ...networks.flatMap((n) => [
      `TransPort ${n.gateway}:${n.tor!.transPort} IsolateClientAddr`,
      `DNSPort ${n.gateway}:${n.tor!.dnsPort} IsolateClientAddr`,
    ]),
    ...(tor.length > 0 ? ['AutomapHostsOnResolve 1', `VirtualAddrNetworkIPv4 ${TOR_VIRTUAL_NETWORK}`] : []),
    'ClientOnly 1',
    'AvoidDiskWrites 1',
    // For diagnosis from the gateway's console (its circuits and streams) and its onion service's state: on its own
    // loopback, which no VM reaches (their TCP all goes to the TransPort), and only with the cookie in Tor's folder.
    `ControlPort 127.0.0.1:${TOR_CONTROL_PORT}`,
    'CookieAuthentication 1',
    ...(onion ? onionLines() : []),
  ];
  if (authorities.length > 0)
    lines.push(
      '# A private Tor network (tests): its authorities instead of the real ones.',
      'TestingTorNetwork 1',
      ...authorities.map((a) => `DirAuthority ${a}`),
      // A small network's exit policy does not survive the microdescriptor summary, it has few paths, its descriptors
      // churn at first (ask the authorities), and circuits on one machine are too fast to learn a timeout from.
      'UseMicrodescriptors 0',
      'PathsNeededToBuildCircuits 0.67',
      'FetchDirInfoEarly 1',
      'LearnCircuitBuildTimeout 0',
    );
  return `${lines.join('\n')}\n`;
}
