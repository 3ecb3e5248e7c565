// The VPN networks' provider files: read from the key folder's vpn/ folder (0600, never from the recipe's tree), parsed
// for what the router needs in the clear, and sealed with the host's secret key for host.json.
import { lstat, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '../../common/errors.ts';
import { tunnelSealBinding } from '../../common/net/plan.ts';
import { refuseOpenToOthers } from '../../common/private-file.ts';
import { readOrCreateSecretKey, sealDeterministic } from '../../common/secrets/otp-secret.ts';
import { type ParsedVpnConfig, parseVpnConfig } from '../net/vpn-config.ts';
import type { NetworkSpec } from '../recipe/types.ts';
import { storeFiles } from './store.ts';

// The most bytes a provider file may have.
const MAX_CONFIG_BYTES = 64 * 1024;

// One VPN network's tunnel as the builder resolved it: the parsed file (DNS as the recipe overrides it) and the file
// sealed for the image.
export interface ResolvedVpn {
  parsed: ParsedVpnConfig;
  sealed: string;
}

// The tunnels of a host, by network name, and the key that seals them (shipped root-only in the image).
export interface VpnSecrets {
  byNetwork: Map<string, ResolvedVpn>;
  secretKey?: Buffer;
}

// Where a network's provider file is looked for.
export function vpnConfigPath(keyDir: string, config: string): string {
  return join(resolve(keyDir), 'vpn', config);
}

async function readConfig(file: string, network: string): Promise<string> {
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(file);
  } catch {
    throw new UserError(`VPN network ${network}: no provider file ${file}`, {
      hint: `put your provider's WireGuard .conf or OpenVPN .ovpn there (chmod 600), then build again`,
    });
  }
  if (!info.isFile())
    throw new UserError(`VPN network ${network}: ${file} is not a plain file`, { hint: 'copy the file itself there' });
  refuseOpenToOthers(file, info.mode, `${file} holds a VPN key and`);
  if (info.size > MAX_CONFIG_BYTES)
    throw new UserError(`${file} is ${info.size} bytes; a provider file has at most ${MAX_CONFIG_BYTES}`);
  return readFile(file, 'utf8');
}

// Resolves every VPN network of the recipe; none: an empty map and no key.
export async function resolveVpnSecrets(networks: readonly NetworkSpec[], keyDir: string): Promise<VpnSecrets> {
  const byNetwork = new Map<string, ResolvedVpn>();
  const vpnNetworks = networks.filter((n) => n.vpn);
  if (vpnNetworks.length === 0) return { byNetwork };
  const secretKey = await readOrCreateSecretKey(storeFiles(keyDir).key);
  for (const network of vpnNetworks) {
    const spec = network.vpn!;
    const file = vpnConfigPath(keyDir, spec.config);
    const parsed = parseVpnConfig(await readConfig(file, network.name), file, spec.provider);
    const dns = spec.dns.length > 0 ? [...spec.dns] : parsed.dns;
    if (network.dns && dns.length === 0)
      throw new UserError(
        `VPN network ${network.name} hands out DNS, but neither the recipe nor ${file} names a server`,
        {
          hint: `add \`dns: [<address inside the tunnel>]\` under networks.${network.name}.via.vpn, or \`dns: false\` to the network`,
        },
      );
    byNetwork.set(network.name, {
      parsed: { ...parsed, dns },
      sealed: sealDeterministic(secretKey, tunnelSealBinding(network.name), parsed.text),
    });
  }
  return { byNetwork, secretKey };
}
