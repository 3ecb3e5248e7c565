// The host vault: passwords, one-time-code seeds and SSH keys in one file on the state partition, sealed with
// AES-256-GCM under a random vault key, and that key wrapped under a passphrase (scrypt). Unlocked, the key and the
// entries live in this process's memory only; the file alone, or a copy of the disk, reveals nothing. One-time codes
// come from otplib (RFC 6238 TOTP, RFC 4226 HOTP).
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createGuardrails, generate } from 'otplib';
import { writeFileAtomic } from '../atomic-write.ts';
import {
  type GivenShare,
  type KeySplit,
  parseSealed,
  recoverKeys,
  type SealedKeys,
  type SplitOptions,
  sealAndSplit,
  shareNumbers,
} from '../custody/custody.ts';
import { UserError } from '../errors.ts';

// The vault file's format.
export const VAULT_FORMAT = 'mvos-vault/1';
// scrypt's cost for a new vault, and the most a file may ask for (a crafted file must not exhaust memory).
const SCRYPT = { N: 1 << 15, r: 8, p: 1 };
const MAX_N = 1 << 20;
// Bounds on what a vault holds.
export const MAX_ENTRIES = 1000;
const MAX_FILE_BYTES = 16 << 20;
const MAX_SECRET_CHARS = 64 * 1024;
// Seeds as services issue them: many are 80 bits, below otplib's default floor of 128.
const SEED_GUARDRAILS = createGuardrails({ MIN_SECRET_BYTES: 10 });

// What an entry holds; `secret` is what never leaves the vault except to the one who may have it: a logged-in user,
// or the one VM `vm` names, over its own channel.
export type VaultEntry = (
  | { kind: 'password'; secret: string; note?: string }
  | { kind: 'totp'; secret: string; digits: 6 | 8; period: number; algorithm: 'sha1' | 'sha256' | 'sha512' }
  | { kind: 'hotp'; secret: string; digits: 6 | 8; counter: number }
  | { kind: 'ssh-key'; secret: string; publicKey: string }
) & { vm?: string };

// The entry kinds.
export const ENTRY_KINDS = ['password', 'totp', 'hotp', 'ssh-key'] as const;

// A vault operation refused (wrong passphrase, a damaged file, a bad entry).
export class VaultError extends Error {}

interface Sealed {
  nonce: string;
  data: string;
  tag: string;
}

interface VaultFile {
  format: typeof VAULT_FORMAT;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  key: Sealed;
  // The vault key sealed once more under a key split among custodians: any T of their shares unlock it too.
  recovery?: SealedKeys;
  entries: Sealed;
}

function derive(passphrase: string, kdf: VaultFile['kdf']): Promise<Buffer> {
  const { N, r, p } = kdf;
  if (!Number.isInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0 || r < 1 || r > 16 || p < 1 || p > 4)
    throw new VaultError('the vault asks for a key derivation this agent does not run');
  return new Promise((resolve, reject) =>
    scrypt(
      passphrase.normalize('NFC'),
      Buffer.from(kdf.salt, 'base64'),
      32,
      { N, r, p, maxmem: 256 * N * r + (1 << 20) },
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  );
}

function seal(key: Buffer, plain: Buffer, aad: string): Sealed {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  return {
    nonce: nonce.toString('base64'),
    data: data.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
}

function open(key: Buffer, sealed: Sealed, aad: string): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.nonce, 'base64'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
  } catch {
    return undefined;
  }
}

// Checks an entry's fields before it is stored.
export function checkEntry(name: string, entry: VaultEntry): void {
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name))
    throw new VaultError(`entry name "${name}": lower-case letters, digits, . _ - (at most 64)`);
  if (typeof entry.secret !== 'string' || entry.secret.length === 0 || entry.secret.length > MAX_SECRET_CHARS)
    throw new VaultError(`entry ${name}: the secret must be 1 to ${MAX_SECRET_CHARS} characters`);
  if (entry.kind === 'totp' || entry.kind === 'hotp') {
    if (!/^[A-Z2-7]{16,128}=*$/.test(entry.secret))
      throw new VaultError(`entry ${name}: a one-time-code seed is base32 (A-Z, 2-7), at least 16 characters`);
    if (entry.digits !== 6 && entry.digits !== 8) throw new VaultError(`entry ${name}: codes have 6 or 8 digits`);
  }
  if (entry.kind === 'totp' && (!Number.isInteger(entry.period) || entry.period < 10 || entry.period > 300))
    throw new VaultError(`entry ${name}: the period is 10 to 300 seconds`);
  if (entry.kind === 'hotp' && (!Number.isSafeInteger(entry.counter) || entry.counter < 0))
    throw new VaultError(`entry ${name}: the counter is a whole number ≥ 0`);
  if (
    entry.kind === 'ssh-key' &&
    (typeof entry.publicKey !== 'string' || !/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+( .{0,200})?$/.test(entry.publicKey))
  )
    throw new VaultError(`entry ${name}: publicKey must be an OpenSSH public key line`);
  if (entry.vm !== undefined && (typeof entry.vm !== 'string' || !/^[a-z][a-z0-9-]{0,30}$/.test(entry.vm)))
    throw new VaultError(`entry ${name}: vm must be a VM name`);
}

// The vault key from custodians' shares; a share or set that is wrong is named as the vault's refusal.
async function recoverShares(recovery: SealedKeys, given: GivenShare[]): Promise<Buffer> {
  let key: Buffer;
  try {
    key = await recoverKeys(recovery, given);
  } catch (error) {
    throw error instanceof UserError
      ? new VaultError(`${error.message}${error.hint ? ` (${error.hint})` : ''}`)
      : error;
  }
  if (key.length !== 32) throw new VaultError('the shares open something that is not a vault key');
  return key;
}

// Reads and checks a vault file's outer shape.
async function readVaultFile(file: string): Promise<VaultFile> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new VaultError(
      error.code === 'ENOENT' ? 'there is no vault yet' : `the vault does not read: ${error.message}`,
    );
  });
  if (text.length > MAX_FILE_BYTES) throw new VaultError('the vault file is larger than a vault');
  let parsed: VaultFile;
  try {
    parsed = JSON.parse(text) as VaultFile;
  } catch {
    throw new VaultError('the vault file is damaged (not JSON)');
  }
  if (parsed?.format !== VAULT_FORMAT || parsed.kdf?.name !== 'scrypt' || !parsed.key || !parsed.entries)
    throw new VaultError(`the vault file is not of format ${VAULT_FORMAT}`);
  if (parsed.recovery !== undefined) parsed.recovery = parseSealed(JSON.stringify(parsed.recovery), 'the vault file');
  return parsed;
}

// What the file holds without a key: whether it exists and how it can be unlocked.
export async function vaultInfo(
  file: string,
): Promise<{ exists: boolean; recovery?: { threshold: number; shares: number; setId: string } }> {
  const parsed = await readVaultFile(file).catch((error: Error) => {
    if (error.message === 'there is no vault yet') return undefined;
    throw error;
  });
  if (!parsed) return { exists: false };
  const r = parsed.recovery;
  return { exists: true, ...(r ? { recovery: { threshold: r.threshold, shares: r.shares, setId: r.setId } } : {}) };
}

// An unlocked vault.
export class Vault {
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private header: Omit<VaultFile, 'entries'>,
    private key: Buffer | undefined,
    private entries: Map<string, VaultEntry>,
  ) {}

  // Makes a new, empty vault in `file` (which must not exist) under `passphrase`; with `recovery`, its key is split
  // among custodians too, and their share cards are returned (once: nothing keeps them).
  static async create(
    file: string,
    passphrase: string,
    recovery?: SplitOptions,
  ): Promise<{ vault: Vault; cards: string[] }> {
    if (passphrase.length < 8) throw new VaultError('a vault passphrase has at least 8 characters');
    const kdf = { name: 'scrypt' as const, ...SCRYPT, salt: randomBytes(16).toString('base64') };
    const key = randomBytes(32);
    let split: KeySplit | undefined;
    try {
      split = recovery ? await sealAndSplit(key, recovery) : undefined;
    } catch (error) {
      throw error instanceof UserError ? new VaultError(error.message) : error;
    }
    const header = {
      format: VAULT_FORMAT,
      kdf,
      key: seal(await derive(passphrase, kdf), key, VAULT_FORMAT),
      ...(split ? { recovery: split.sealed } : {}),
    } as const;
    if (await stat(file).catch(() => undefined)) throw new VaultError('a vault exists already');
    const vault = new Vault(file, header, key, new Map());
    await vault.save();
    return { vault, cards: split?.cards ?? [] };
  }

  // Opens the vault in `file` with its passphrase.
  static async unlock(file: string, passphrase: string): Promise<Vault> {
    const parsed = await readVaultFile(file);
    const key = open(await derive(passphrase, parsed.kdf), parsed.key, VAULT_FORMAT);
    if (!key) throw new VaultError('wrong passphrase');
    return Vault.opened(file, parsed, key);
  }

  // Opens the vault in `file` with any T of its custodians' shares.
  static async unlockWithShares(file: string, given: GivenShare[]): Promise<Vault> {
    const parsed = await readVaultFile(file);
    if (!parsed.recovery) throw new VaultError('this vault was made without custodians: only its passphrase opens it');
    const key = await recoverShares(parsed.recovery, given);
    return Vault.opened(file, parsed, key);
  }

  // A custodians' drill: checks that `given` recover this vault's key (each share's signature, the set, the check value,
  // the sealed key opening), then forgets the key: nothing is unlocked.
  static async drill(
    file: string,
    given: GivenShare[],
  ): Promise<{ setId: string; threshold: number; shares: number; used: number[] }> {
    const parsed = await readVaultFile(file);
    if (!parsed.recovery) throw new VaultError('this vault was made without custodians: there is nothing to drill');
    const key = await recoverShares(parsed.recovery, given);
    key.fill(0);
    const { setId, threshold, shares } = parsed.recovery;
    return { setId, threshold, shares, used: shareNumbers(given) };
  }

  private static opened(file: string, parsed: VaultFile, key: Buffer): Vault {
    const plain = open(key, parsed.entries, `${VAULT_FORMAT} entries`);
    if (!plain) throw new VaultError('the vault file is damaged: its entries do not open');
    const entries = new Map(Object.entries(JSON.parse(plain.toString('utf8')) as Record<string, VaultEntry>));
    plain.fill(0);
    const { entries: _sealed, ...header } = parsed;
    return new Vault(file, header, key, entries);
  }

  private unlocked(): Buffer {
    if (!this.key) throw new VaultError('the vault is locked');
    return this.key;
  }

  // One write at a time, each sealing the state as it is when its turn comes: a slow older write never lands after a
  // newer one (a lost HOTP step would reuse codes, a lost passphrase change would keep the old one working).
  private save(): Promise<void> {
    const turn = this.saving.then(async () => {
      const plain = Buffer.from(JSON.stringify(Object.fromEntries(this.entries)));
      const file: VaultFile = { ...this.header, entries: seal(this.unlocked(), plain, `${VAULT_FORMAT} entries`) };
      plain.fill(0);
      await writeFileAtomic(this.file, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    });
    this.saving = turn.catch(() => undefined);
    return turn;
  }

  // The entries' names, kinds and VMs (never their secrets).
  list(): Array<{ name: string; kind: VaultEntry['kind']; vm?: string }> {
    this.unlocked();
    return [...this.entries]
      .map(([name, entry]) => ({ name, kind: entry.kind, ...(entry.vm ? { vm: entry.vm } : {}) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  // One entry, whole.
  get(name: string): VaultEntry | undefined {
    this.unlocked();
    return this.entries.get(name);
  }

  // Adds or replaces an entry, written through before it returns.
  async put(name: string, entry: VaultEntry): Promise<void> {
    this.unlocked();
    checkEntry(name, entry);
    if (!this.entries.has(name) && this.entries.size >= MAX_ENTRIES)
      throw new VaultError(`the vault holds ${MAX_ENTRIES} entries at most`);
    this.entries.set(name, { ...entry });
    await this.save();
  }

  // Removes an entry.
  async remove(name: string): Promise<boolean> {
    this.unlocked();
    const had = this.entries.delete(name);
    if (had) await this.save();
    return had;
  }

  // The current one-time code of a seed entry (`now` in ms); an HOTP entry's counter moves on and is saved.
  async code(name: string, now = Date.now()): Promise<string> {
    const entry = this.get(name);
    if (!entry || (entry.kind !== 'totp' && entry.kind !== 'hotp'))
      throw new VaultError(`no one-time-code seed named ${name}`);
    if (entry.kind === 'totp')
      return generate({
        secret: entry.secret.replace(/=+$/, ''),
        epoch: Math.floor(now / 1000),
        period: entry.period,
        digits: entry.digits,
        algorithm: entry.algorithm,
        guardrails: SEED_GUARDRAILS,
      });
    // The step is taken before anything awaits: two requests at once must never get the same counter.
    this.entries.set(name, { ...entry, counter: entry.counter + 1 });
    const code = await generate({
      secret: entry.secret.replace(/=+$/, ''),
      strategy: 'hotp',
      counter: entry.counter,
      digits: entry.digits,
      guardrails: SEED_GUARDRAILS,
    });
    await this.save();
    return code;
  }

  // Seals the vault key under a new passphrase (a fresh salt); the custodians' seal and the entries stay as they are.
  async changePassphrase(passphrase: string): Promise<void> {
    if (passphrase.length < 8) throw new VaultError('a vault passphrase has at least 8 characters');
    const kdf = { name: 'scrypt' as const, ...SCRYPT, salt: randomBytes(16).toString('base64') };
    const key = seal(await derive(passphrase, kdf), this.unlocked(), VAULT_FORMAT);
    this.header = { ...this.header, kdf, key };
    await this.save();
  }

  // Forgets the key and the entries (they stay sealed in the file).
  lock(): void {
    this.key?.fill(0);
    this.key = undefined;
    this.entries = new Map();
  }
}
