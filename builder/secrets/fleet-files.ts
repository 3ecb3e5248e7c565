// What a host image of a fleet ships from the key folder: the host's nkey seed (root-only) and, when the key folder has
// one, the CA of the tls:// brokers. Read and checked before the rootfs stage, so its key holds them.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '../../common/errors.ts';
import { identityOf, readSeed } from '../fleet/identities.ts';

// Where the image keeps the seed: root-only (0400), like the secret key.
export const IMAGE_FLEET_SEED = '/etc/mvos/fleet.nk';
// Where the image keeps the brokers' CA (public).
export const IMAGE_FLEET_CA = '/etc/mvos/fleet-ca.crt';

// The key folder's CA of the brokers (optional: without it the agent trusts Node's own CA list).
export function fleetCaFile(keyDir: string): string {
  return join(resolve(keyDir), 'fleet', 'ca.crt');
}

// The files, as they go into the image.
export interface FleetFiles {
  seed: Buffer;
  ca?: Buffer;
}

// Reads host `host`'s seed (refused when others may read it, or when it is no seed) and the CA when there.
export async function readFleetFiles(keyDir: string, host: string): Promise<FleetFiles> {
  const { seed } = await readSeed(await identityOf(keyDir, 'host', host));
  const caFile = fleetCaFile(keyDir);
  const ca = await readFile(caFile).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (error) {
      throw new UserError(`${caFile} is not a PEM certificate: ${(error as Error).message}`, {
        hint: "put the brokers' CA certificate there, or remove the file to trust Node's own CA list",
      });
    }
  }
  return { seed: Buffer.from(`${new TextDecoder().decode(seed)}\n`), ...(ca ? { ca } : {}) };
}
