// The host vault as the agent serves it: one sealed file on the state partition, unlocked after boot by its passphrase
// or by custodians' shares and then held in this process's memory only; one-time codes and public keys to logged-in
// users, an SSH certificate authority, and each secret to the one VM its entry names.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { VaultCertificate, VaultCode, VaultView } from '../../common/api-types.ts';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import type { SplitOptions } from '../../common/custody/custody.ts';
import { issueUserCertificate, openSshPublicKey } from '../../common/vault/ssh-cert.ts';
import { Vault, type VaultEntry, VaultError, vaultInfo } from '../../common/vault/vault.ts';
import { ControlError } from '../controls.ts';
import { UnlockGate, type UnlockPolicy } from './unlock-gate.ts';

// The CA's entry in the vault; its public half is also kept beside the vault in plain, for VMs to trust while locked.
export const CA_ENTRY = 'ssh-ca';
// Bounds on a certificate's life: minutes to hours, as the issue of an ephemeral key asks.
export const CERT_MIN_SECONDS = 60;
export const CERT_MAX_SECONDS = 12 * 3600;
export const CERT_DEFAULT_SECONDS = 3600;
// Most entries one VM may have asked for in a minute over its channel (a guest is hostile until bounded).
const VM_REQUESTS_PER_MINUTE = 30;

// A certificate request as a logged-in user makes it.
export interface CertRequest {
  user: string;
  publicKey: string;
  validitySeconds?: number;
  // One address (v4 or v6) the certificate is good from.
  from?: string;
}

// How a VM's request for one of its secrets ended.
export type VmSecretAnswer = { ok: true; secret: string } | { ok: false; reason: string };

function refused(error: unknown): never {
  if (error instanceof VaultError) throw new ControlError('invalid', error.message);
  throw error;
}

// The agent's vault.
export class VaultService {
  private vault: Vault | undefined;
  private readonly gate: UnlockGate;
  // Each VM's requests in the current minute: a fixed window, O(1) however fast a guest asks.
  private readonly vmRequests = new Map<string, { start: number; count: number }>();
  private creating = false;
  private serial = BigInt(Date.now()) * 1000n;
  private info: Awaited<ReturnType<typeof vaultInfo>> = { exists: false };
  private caLine: string | undefined;

  private constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
    policy: Partial<UnlockPolicy>,
    private readonly now: () => number,
  ) {
    this.gate = new UnlockGate(policy, now);
  }

  // Reads what the state partition holds of the vault (nothing secret: it stays locked).
  static async open(
    stateDir: string,
    options: { log?: (line: string) => void; unlock?: Partial<UnlockPolicy>; now?: () => number } = {},
  ): Promise<VaultService> {
    const service = new VaultService(
      join(stateDir, 'vault'),
      options.log ?? (() => undefined),
      options.unlock ?? {},
      options.now ?? Date.now,
    );
    await service.reread();
    return service;
  }

  private get file(): string {
    return join(this.dir, 'vault.json');
  }

  private async reread(): Promise<void> {
    this.info = await vaultInfo(this.file).catch((error: Error) => {
      this.log(`vault: ${error.message}`);
      return { exists: true };
    });
    this.caLine = await readFile(join(this.dir, 'ssh-ca.pub'), 'utf8')
      .then((text) => text.trim().slice(0, 500) || undefined)
      .catch(() => undefined);
  }

  view(): VaultView {
    const wait = this.gate.waitSeconds();
    return {
      state: this.vault ? 'unlocked' : this.info.exists ? 'locked' : 'none',
      ...(this.vault ? { entries: this.vault.list() } : {}),
      ...(this.info.recovery ? { recovery: this.info.recovery } : {}),
      ...(this.caLine ? { caPublicKey: this.caLine } : {}),
      unlock: { failures: this.gate.failures, ...(wait > 0 ? { retryAfterSeconds: wait } : {}) },
    };
  }

  // Makes the vault (it must not exist), unlocked, with a fresh SSH CA; with `recovery`, returns its share cards once.
  async create(passphrase: string, by: string, recovery?: SplitOptions): Promise<{ view: VaultView; cards: string[] }> {
    if (this.info.exists || this.creating) throw new ControlError('conflict', 'a vault exists already');
    // Reserved before the first await: two makes at once would each hand out cards, and one set would open nothing.
    this.creating = true;
    try {
      return await this.make(passphrase, by, recovery);
    } finally {
      this.creating = false;
    }
  }

  private async make(
    passphrase: string,
    by: string,
    recovery?: SplitOptions,
  ): Promise<{ view: VaultView; cards: string[] }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const { vault, cards } = await Vault.create(this.file, passphrase, recovery).catch(refused);
    const ca = generateKeyPairSync('ed25519');
    const caLine = openSshPublicKey(ca.publicKey, 'mvos-vault-ca');
    await vault.put(CA_ENTRY, {
      kind: 'ssh-key',
      secret: ca.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      publicKey: caLine,
    });
    await writeFileAtomic(join(this.dir, 'ssh-ca.pub'), `${caLine}\n`, { mode: 0o644 });
    this.vault = vault;
    await this.reread();
    this.log(
      `vault: made by ${by}${recovery ? ` (any ${recovery.threshold} of ${recovery.shares} custodians too)` : ''}`,
    );
    return { view: this.view(), cards };
  }

  // Unlocks with the passphrase or any T shares; the attempt is counted before the slow check, one runs at a time.
  async unlock(secret: { passphrase: string } | { shares: string[] }, by: string): Promise<VaultView> {
    if (this.vault) return this.view();
    if (!this.info.exists) throw new ControlError('not-found', 'there is no vault yet');
    const attempt = this.gate.begin();
    try {
      this.vault =
        'passphrase' in secret
          ? await Vault.unlock(this.file, secret.passphrase)
          : await Vault.unlockWithShares(
              this.file,
              secret.shares.map((text, i) => ({ text, where: `share ${i + 1}` })),
            );
      attempt.succeeded();
      this.log(`vault: unlocked by ${by}${'shares' in secret ? ` with ${secret.shares.length} shares` : ''}`);
      return this.view();
    } catch (error) {
      attempt.failed();
      if (error instanceof VaultError) {
        this.log(`vault: unlock by ${by} refused: ${error.message}`);
        throw new ControlError('invalid', `${error.message} (${this.gate.failures} failed in a row)`);
      }
      throw error;
    }
  }

  // A custodians' drill: the shares are checked to recover the vault's key, through the same gate as an unlock, and
  // nothing is unlocked.
  async drill(shares: string[], by: string): Promise<string> {
    if (!this.info.exists) throw new ControlError('not-found', 'there is no vault yet');
    const attempt = this.gate.begin();
    try {
      const drilled = await Vault.drill(
        this.file,
        shares.map((text, i) => ({ text, where: `share ${i + 1}` })),
      );
      attempt.succeeded();
      const said = `drill passed: shares ${drilled.used.join(', ')} of set ${drilled.setId.slice(0, 8)} (any ${drilled.threshold} of ${drilled.shares}) recover the vault key; nothing was unlocked`;
      this.log(`vault: ${said} (by ${by})`);
      return said;
    } catch (error) {
      attempt.failed();
      if (error instanceof VaultError) throw new ControlError('invalid', `drill failed: ${error.message}`);
      throw error;
    }
  }

  // A new passphrase, given the current one (checked through the gate, like an unlock): a stolen session alone cannot
  // lock the owner out.
  async changePassphrase(current: string, next: string, by: string): Promise<VaultView> {
    const vault = this.open();
    const attempt = this.gate.begin();
    try {
      (await Vault.unlock(this.file, current)).lock();
      attempt.succeeded();
    } catch (error) {
      attempt.failed();
      if (error instanceof VaultError) throw new ControlError('invalid', `the current passphrase: ${error.message}`);
      throw error;
    }
    await vault.changePassphrase(next).catch(refused);
    this.log(`vault: passphrase changed by ${by}`);
    return this.view();
  }

  // Forgets the key and every secret; the file stays as it is.
  lock(by: string): VaultView {
    if (this.vault) this.log(`vault: locked by ${by}`);
    this.vault?.lock();
    this.vault = undefined;
    return this.view();
  }

  private open(): Vault {
    if (this.vault) return this.vault;
    throw new ControlError(
      'conflict',
      this.info.exists ? 'the vault is locked: unlock it first' : 'there is no vault yet: make one first',
    );
  }

  private entry(name: string): VaultEntry {
    const entry = this.open().get(name);
    if (!entry) throw new ControlError('not-found', `the vault has no entry named ${JSON.stringify(name)}`);
    return entry;
  }

  // Adds or replaces an entry (the CA's is the vault's own).
  async put(name: string, entry: VaultEntry): Promise<VaultView> {
    if (name === CA_ENTRY) throw new ControlError('conflict', `${CA_ENTRY} is the vault's own certificate authority`);
    await this.open().put(name, entry).catch(refused);
    return this.view();
  }

  async remove(name: string): Promise<VaultView> {
    if (name === CA_ENTRY) throw new ControlError('conflict', `${CA_ENTRY} is the vault's own certificate authority`);
    this.entry(name);
    await this.open().remove(name);
    return this.view();
  }

  // The current code of a TOTP or HOTP entry, and (TOTP) how many more seconds it is good for.
  async code(name: string): Promise<VaultCode> {
    const entry = this.entry(name);
    if (entry.kind !== 'totp' && entry.kind !== 'hotp')
      throw new ControlError('invalid', `${name} is a ${entry.kind} entry, not a one-time-code seed`);
    const now = this.now();
    const code = await this.open().code(name, now).catch(refused);
    return {
      name,
      code,
      ...(entry.kind === 'totp' ? { validForSeconds: entry.period - (Math.floor(now / 1000) % entry.period) } : {}),
    };
  }

  // The public key of an ssh-key entry.
  publicKey(name: string): string {
    const entry = this.entry(name);
    if (entry.kind !== 'ssh-key') throw new ControlError('invalid', `${name} is a ${entry.kind} entry, not an SSH key`);
    return entry.publicKey;
  }

  // A short-lived user certificate for the caller's key: their own name as the one principal, at most from one
  // address.
  issueCertificate(request: CertRequest): VaultCertificate {
    const ca = this.entry(CA_ENTRY);
    const validity = request.validitySeconds ?? CERT_DEFAULT_SECONDS;
    if (!Number.isInteger(validity) || validity < CERT_MIN_SECONDS || validity > CERT_MAX_SECONDS)
      throw new ControlError(
        'invalid',
        `a certificate lives ${CERT_MIN_SECONDS} s to ${CERT_MAX_SECONDS / 3600} h (got ${request.validitySeconds})`,
      );
    if (request.from !== undefined && isIP(request.from) === 0)
      throw new ControlError('invalid', `"${String(request.from).slice(0, 60)}" is not an IP address`);
    const now = Math.floor(this.now() / 1000);
    this.serial += 1n;
    const keyId = `${request.user}@mvos-vault#${this.serial}`;
    let certificate: string;
    try {
      certificate = issueUserCertificate(createPrivateKey(ca.secret), {
        publicKey: request.publicKey,
        keyId,
        principals: [request.user],
        // A minute back: clocks of the host and the server that checks it are not the same.
        validAfter: now - 60,
        validBefore: now + validity,
        ...(request.from
          ? { sourceAddress: request.from.includes(':') ? `${request.from}/128` : `${request.from}/32` }
          : {}),
        serial: this.serial,
      });
    } catch (error) {
      throw new ControlError('invalid', `the key does not take a certificate: ${(error as Error).message}`);
    }
    this.log(
      `vault: certificate ${keyId} for ${request.user}, ${validity} s${request.from ? ` from ${request.from}` : ''}`,
    );
    return { certificate, validBefore: new Date((now + validity) * 1000).toISOString(), principals: [request.user] };
  }

  // A VM's request over its own channel: only an entry whose `vm` is that VM, and only while unlocked; bounded per
  // minute. The reason says no more than a VM may know.
  secretForVm(vm: string, name: string): VmSecretAnswer {
    const now = this.now();
    let window = this.vmRequests.get(vm);
    if (!window || now - window.start >= 60_000) {
      window = { start: now, count: 0 };
      this.vmRequests.set(vm, window);
    }
    window.count += 1;
    if (window.count > VM_REQUESTS_PER_MINUTE) return { ok: false, reason: 'too many requests' };
    if (!this.vault) return { ok: false, reason: 'locked' };
    const entry = this.vault.get(name);
    // Another VM's entry and no entry read the same: a VM learns nothing of what else the vault holds.
    if (!entry || entry.vm !== vm || name === CA_ENTRY) return { ok: false, reason: 'no such secret for this VM' };
    this.log(`vault: ${name} handed to ${vm} over its channel`);
    return { ok: true, secret: entry.secret };
  }
}
