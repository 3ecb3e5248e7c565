// What a VM's QEMU needs for its networks: a VM's NICs (one link per network), a router's uplink and links, and the
// files a router reads over fw_cfg. A link is a pair of unix datagram sockets, one in each VM's run folder: no bridge,
// no tap, no address on the host.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NetLink, NetworksConfig } from '../../common/host-config.ts';
import {
  EGRESS_LINK_HOST,
  EGRESS_NET,
  EGRESS_ROUTER_ADDRESS,
  type EgressTarget,
  egressLocalEndpoint,
  egressRelayPort,
} from '../../common/net/egress-link.ts';
import { ONION_AGENT_ADDRESS, ONION_LINK_HOST, ONION_NET, ONION_PORTS } from '../../common/net/onion-link.ts';
import { routerOfNetwork, routerPlan, tunnelSealBinding, vmLinks } from '../../common/net/plan.ts';
import { ROUTER_FW_CFG_PREFIX, routerFiles, tunnelConfigName } from '../../common/net/router-files.ts';
import type { QemuNic, QemuSpec } from '../../common/qemu/argv.ts';
import { decryptSecret, readSecretKey } from '../../common/secrets/otp-secret.ts';
import { vmPaths } from '../launch/vm.ts';
import { bindVfio } from './vfio.ts';

// The two ends of a link: the VM's socket and the router's.
export function linkSockets(stateDir: string, link: NetLink, router: string): { vm: string; router: string } {
  return {
    vm: join(vmPaths(stateDir, link.vm).dir, `net-${link.network}.sock`),
    router: join(vmPaths(stateDir, router).dir, `${link.ifname}.sock`),
  };
}

async function tunnelKey(file: string | undefined): Promise<Buffer> {
  if (!file) throw new Error('the host has VPN networks but its config names no agent.secretKeyFile to open them');
  return readSecretKey(file);
}

// A VPN network's provider file, opened with the host's secret key (it opens only as this network's).
export function openTunnelConfig(key: Buffer, network: string, sealed: string): string {
  return decryptSecret(key, tunnelSealBinding(network), sealed);
}

// What the onion service's gateway gets besides its networks: Tor's files from the agent, and the agent's doors (unix
// sockets) that its local link leads to, one forward each.
export interface OnionLaunch {
  files: { key: string; clients: string };
  doors: { api: string; ssh?: string };
  // The program that joins one forwarded connection to a door (socat, found on the agent's PATH).
  socat: string;
}

// The onion gateway's local link: a user-mode network that reaches nothing but the agent's doors.
function onionNic(mac: string, onion: OnionLaunch): QemuNic {
  const door = (port: number, path: string) => ({ port, argv: [onion.socat, '-', `UNIX-CONNECT:${path}`] });
  return {
    id: 'onion',
    mac,
    backend: {
      restricted: {
        net: ONION_NET,
        host: ONION_LINK_HOST,
        forwardTo: ONION_AGENT_ADDRESS,
        forwards: [
          door(ONION_PORTS.api, onion.doors.api),
          ...(onion.doors.ssh ? [door(ONION_PORTS.ssh, onion.doors.ssh)] : []),
        ],
      },
    },
  };
}

// The egress link: a user-mode network that reaches nothing; each destination a forward from the host's loopback to its
// relay in the router.
function egressNic(mac: string, targets: readonly EgressTarget[]): QemuNic {
  return {
    id: 'egress',
    mac,
    backend: {
      restricted: {
        net: EGRESS_NET,
        host: EGRESS_LINK_HOST,
        forwards: [],
        hostForwards: targets.map((target, i) => {
          const local = egressLocalEndpoint(i, target);
          return {
            hostAddress: local.address,
            hostPort: local.port,
            guestAddress: EGRESS_ROUTER_ADDRESS,
            guestPort: egressRelayPort(i),
          };
        }),
      },
    },
  };
}

// What QEMU gets for VM `name`: its NICs, and for a router also its uplink, fw_cfg files and the namespace its tap is
// in. Writes the router's files and removes socket files a killed QEMU left (its own ends only).
export async function networkLaunch(
  config: NetworksConfig | undefined,
  name: string,
  stateDir: string,
  options: { sysfs?: string; secretKeyFile?: string; onion?: OnionLaunch } = {},
): Promise<Pick<QemuSpec, 'nics' | 'vfio' | 'fwCfg'> & { netns?: string }> {
  const sysfs = options.sysfs ?? '/sys';
  if (!config) return {};
  const nics: QemuNic[] = [];
  for (const [index, link] of vmLinks(config, name).entries()) {
    const sockets = linkSockets(stateDir, link, routerOfNetwork(config, link.network));
    await rm(sockets.vm, { force: true });
    nics.push({ id: `net${index}`, mac: link.mac, backend: { dgram: { local: sockets.vm, remote: sockets.router } } });
  }
  const plan = routerPlan(config, name);
  if (!plan) return nics.length > 0 ? { nics } : {};
  const { uplink } = plan.router;
  if (uplink.pci) await bindVfio(uplink.pci, sysfs);
  if (uplink.tap) nics.push({ id: 'uplink', mac: uplink.mac, backend: { tap: uplink.tap.name } });
  for (const link of plan.links) {
    const sockets = linkSockets(stateDir, link, name);
    await rm(sockets.router, { force: true });
    nics.push({
      id: link.ifname,
      mac: link.routerMac,
      backend: { dgram: { local: sockets.router, remote: sockets.vm } },
    });
  }
  if (plan.router.onion) {
    if (!options.onion) throw new Error(`${name} publishes the onion service, but the agent has none to hand it`);
    nics.push(onionNic(plan.router.onion.mac, options.onion));
  }
  if (plan.router.egress) nics.push(egressNic(plan.router.egress.mac, plan.router.egress.targets));
  const dir = join(vmPaths(stateDir, name).dir, 'router');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const fwCfg: QemuSpec['fwCfg'] = [];
  const files = routerFiles(plan);
  // The tunnels' provider files are opened only now, into the router's own 0700 folder, and reach only the router.
  const tunnels = plan.networks.filter((n) => n.vpn);
  if (tunnels.length > 0) {
    const key = await tunnelKey(options.secretKeyFile);
    for (const network of tunnels) {
      const { ifname, sealed } = network.vpn!;
      files[tunnelConfigName(ifname)] = openTunnelConfig(key, network.name, sealed);
    }
  }
  // The onion service's key and clients, like the tunnels' files: only now, only to this router.
  if (plan.router.onion && options.onion) {
    files['onion-key'] = options.onion.files.key;
    files['onion-clients'] = options.onion.files.clients;
  }
  for (const [file, text] of Object.entries(files)) {
    // QEMU refuses an empty fw_cfg file; the router reads a missing one as empty.
    if (text === '') continue;
    await writeFile(join(dir, file), text, { mode: 0o600 });
    fwCfg.push({ name: `${ROUTER_FW_CFG_PREFIX}${file}`, file: join(dir, file) });
  }
  return {
    nics,
    fwCfg,
    ...(uplink.pci ? { vfio: [...uplink.pci] } : {}),
    ...(uplink.tap?.netns ? { netns: uplink.tap.netns } : {}),
  };
}
