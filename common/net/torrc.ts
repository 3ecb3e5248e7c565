// A Tor gateway's torrc: Tor as a transparent proxy for the router's Tor networks (TransPort and DNSPort, each VM its
// own circuits), as its own user, with nothing else open. Handed to the router over fw_cfg like its ruleset.
import type { NetTor } from '../host-config.ts';
import type { RouterPlan } from './plan.ts';

// Where the VMs' names for onion and mapped addresses come from: a range no network of ours uses and a VM routes to
// its gateway (Tor's default, 127.192.0.0/10, would be a VM's own loopback).
export const TOR_VIRTUAL_NETWORK = '10.192.0.0/10';

// The router's torrc; empty when it serves no Tor network.
export function torrcFile(plan: RouterPlan): string {
  const tor = plan.networks.flatMap((n) => (n.tor ? [n.tor] : []));
  const first: NetTor | undefined = tor[0];
  if (!first) return '';
  const authorities = [...new Set(tor.flatMap((t) => t.testingAuthorities ?? []))];
  const lines = [
    `# Tor for ${plan.networks
      .filter((n) => n.tor)
      .map((n) => n.name)
      .join(', ')} (written by the agent)`,
    'User debian-tor',
    'DataDirectory /var/lib/tor',
    'PidFile /run/tor.pid',
    'Log notice file /run/tor.log',
    'RunAsDaemon 0',
    'SocksPort 0',
    // Each VM has its own address: IsolateClientAddr gives each its own circuits.
    `TransPort 0.0.0.0:${first.transPort} IsolateClientAddr`,
    `DNSPort 0.0.0.0:${first.dnsPort} IsolateClientAddr`,
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
      // A small network's exit policy does not survive the microdescriptor summary, and it has few paths.
      'UseMicrodescriptors 0',
      'PathsNeededToBuildCircuits 0.67',
    );
  return `${lines.join('\n')}\n`;
}
