// A Tor gateway's torrc: Tor as a transparent proxy for the router's Tor networks (TransPort and DNSPort, each VM its
// own circuits), as its own user, with nothing else open. Handed to the router over fw_cfg like its ruleset.
import type { RouterPlan } from './plan.ts';

// Where the VMs' names for onion and mapped addresses come from: a range no network of ours uses and a VM routes to
// its gateway (Tor's default, 127.192.0.0/10, would be a VM's own loopback).
export const TOR_VIRTUAL_NETWORK = '10.192.0.0/10';

// Where the gateway's Tor logs (what its bootstrap progress is read from).
export const TOR_LOG = '/var/lib/tor/notice.log';

// The router's torrc; empty when it serves no Tor network.
export function torrcFile(plan: RouterPlan): string {
  const networks = plan.networks.filter((n) => n.tor);
  const tor = networks.flatMap((n) => (n.tor ? [n.tor] : []));
  if (tor.length === 0) return '';
  const authorities = [...new Set(tor.flatMap((t) => t.testingAuthorities ?? []))];
  const lines = [
    `# Tor for ${plan.networks
      .filter((n) => n.tor)
      .map((n) => n.name)
      .join(', ')} (written by the agent)`,
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
    'AutomapHostsOnResolve 1',
    `VirtualAddrNetworkIPv4 ${TOR_VIRTUAL_NETWORK}`,
    'ClientOnly 1',
    'AvoidDiskWrites 1',
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
