// The host's onion call-home: the service key (made on first start, kept on the state partition), the enrolled
// clients, and what the gateway's Tor gets of them (fw_cfg files at its start, the list again on every change).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_ONION_CLIENTS, type OnionClientView, type OnionView } from '../../common/api-types.ts';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { base32Decode } from '../../common/base32.ts';
import { ONION_PORTS } from '../../common/net/onion-link.ts';
import { type OnionServiceKey, onionServiceKey } from '../../common/onion/service-key.ts';
import { ControlError } from '../controls.ts';

// What the service needs of the supervisor: the gateway's last `MVOS-ONION` report and a way to send it a request.
export interface OnionNeeds {
  report: () => string | undefined;
  // Sends the gateway one line and resolves with its reply; undefined when the gateway is not running.
  request: (line: string, reply: RegExp) => Promise<string | undefined>;
  log: (line: string) => void;
}

// A client's name: what its authorized_clients file is called.
const CLIENT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

function onionDir(stateDir: string): string {
  return join(stateDir, 'onion');
}

// The service's seed: read, or made and written (0600, atomically) on first start.
async function loadSeed(stateDir: string, log: (line: string) => void): Promise<Buffer> {
  const file = join(onionDir(stateDir), 'service.seed');
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (text !== undefined) {
    const seed = Buffer.from(text.trim(), 'base64');
    if (seed.length !== 32) throw new Error(`${file} does not hold a 32-byte seed; move it away to make a new address`);
    return seed;
  }
  const seed = randomBytes(32);
  await mkdir(onionDir(stateDir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${seed.toString('base64')}\n`, { mode: 0o600 });
  log(`onion: made the service key (${file})`);
  return seed;
}

// Checks a client's public key: 52 base32 characters of a 32-byte x25519 key.
export function checkClientKey(publicKey: unknown): string {
  if (typeof publicKey !== 'string' || !/^[A-Z2-7]{52}$/.test(publicKey) || base32Decode(publicKey).length !== 32)
    throw new ControlError('invalid', 'publicKey must be an x25519 public key: 52 base32 characters (A-Z, 2-7)');
  return publicKey;
}

// Checks a client's name.
export function checkClientName(name: unknown): string {
  if (typeof name !== 'string' || !CLIENT_NAME.test(name))
    throw new ControlError(
      'invalid',
      'a client name is 1-32 characters: a-z, 0-9 and -, starting with a letter or digit',
    );
  return name;
}

// The `NAME PUBLIC-KEY` lines the gateway reads.
export function clientLines(clients: readonly OnionClientView[]): string {
  return clients.map((c) => `${c.name} ${c.publicKey}\n`).join('');
}

// The host's onion service.
export class OnionService {
  private changing: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly stateDir: string,
    readonly gateway: string,
    private readonly key: OnionServiceKey,
    private list: OnionClientView[],
    private readonly ssh: boolean,
    private readonly needs: OnionNeeds,
  ) {}

  // The service of this state folder: its key (made now on first start) and enrolled clients.
  static async open(stateDir: string, gateway: string, options: { ssh: boolean } & OnionNeeds): Promise<OnionService> {
    const { ssh, ...needs } = options;
    const key = onionServiceKey(await loadSeed(stateDir, needs.log));
    const file = join(onionDir(stateDir), 'clients.json');
    let list: OnionClientView[] = [];
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (!Array.isArray(parsed) || parsed.length > MAX_ONION_CLIENTS) throw new Error('not a list of clients');
        list = parsed.map((c: Partial<OnionClientView>) => ({
          name: checkClientName(c.name),
          publicKey: checkClientKey(c.publicKey),
          added: String(c.added ?? ''),
          by: String(c.by ?? ''),
        }));
      } catch (error) {
        // Fail closed: a list that does not read enrols nobody (the service is then not published at all).
        needs.log(`onion: ${file} is not usable (${(error as Error).message}); no client is enrolled`);
        list = [];
      }
    }
    const service = new OnionService(stateDir, gateway, key, list, ssh, needs);
    needs.log(`onion: the host's onion service is ${key.address} (Tor in ${gateway}; ${list.length} clients)`);
    return service;
  }

  get address(): string {
    return this.key.address;
  }

  // What the gateway is handed at its start: Tor's key file (base64) and the clients.
  files(): { key: string; clients: string } {
    return { key: `${this.key.secretKeyFile.toString('base64')}\n`, clients: clientLines(this.list) };
  }

  view(): OnionView {
    const report = /^MVOS-ONION (\S+) (\d+) (yes|no)$/.exec(this.needs.report() ?? '');
    return {
      address: this.key.address,
      gateway: this.gateway,
      ports: { ...(this.ssh ? { ssh: ONION_PORTS.ssh } : {}), api: ONION_PORTS.api },
      clients: this.list.map((c) => ({ ...c })),
      serving: report?.[1] === this.key.address && Number(report[2]) > 0 && report[3] === 'yes',
    };
  }

  // Enrols a client (by its public key); refused for a taken name or key, or past the most clients.
  add(name: unknown, publicKey: unknown, by: string): Promise<OnionView> {
    return this.change(() => {
      const client = { name: checkClientName(name), publicKey: checkClientKey(publicKey) };
      if (this.list.some((c) => c.name === client.name))
        throw new ControlError('conflict', `client ${client.name} is already enrolled; remove it first`);
      if (this.list.some((c) => c.publicKey === client.publicKey))
        throw new ControlError('conflict', 'that key is already enrolled under another name');
      if (this.list.length >= MAX_ONION_CLIENTS)
        throw new ControlError('conflict', `at most ${MAX_ONION_CLIENTS} clients; remove one first`);
      return [...this.list, { ...client, added: new Date().toISOString(), by }];
    });
  }

  // Revokes a client: the gateway's Tor restarts without it (a client holding the old descriptor is locked out too).
  remove(name: string): Promise<OnionView> {
    return this.change(() => {
      if (!this.list.some((c) => c.name === name)) throw new ControlError('not-found', `no client ${name}`);
      return this.list.filter((c) => c.name !== name);
    });
  }

  // One change at a time: saved first (a gateway that starts later reads it), then handed to the running gateway.
  private change(next: () => OnionClientView[]): Promise<OnionView> {
    const run = async (): Promise<OnionView> => {
      const list = next();
      await mkdir(onionDir(this.stateDir), { recursive: true, mode: 0o700 });
      await writeFileAtomic(join(onionDir(this.stateDir), 'clients.json'), `${JSON.stringify(list, null, 2)}\n`, {
        mode: 0o600,
      });
      this.list = list;
      const line = `MVOS-ONION-CLIENTS ${Buffer.from(clientLines(list)).toString('base64')}`;
      const reply = await this.needs.request(line, /^MVOS-ONION-(APPLIED|REFUSED)/).catch((error: Error) => {
        throw new ControlError(
          'conflict',
          `${this.gateway} did not answer: ${error.message}; it gets the list when it starts`,
        );
      });
      if (reply?.startsWith('MVOS-ONION-REFUSED'))
        throw new ControlError('conflict', `${this.gateway} refused the list: ${reply.slice(19)}`);
      return this.view();
    };
    const result = this.changing.then(run, run);
    this.changing = result.catch(() => undefined);
    return result;
  }
}
