// The vault endpoints: make, unlock and lock it, put and remove entries (secrets go in and never come out here), the
// current code of a seed, a public key, and a short-lived SSH certificate for the caller.
import type { VaultView } from '../../common/api-types.ts';
import { ENTRY_KINDS, type VaultEntry } from '../../common/vault/vault.ts';
import type { VaultService } from '../vault/service.ts';
import { HttpError } from './http.ts';
import { jsonRoute, type Route } from './router.ts';

// What the routes call.
export type VaultControls = Pick<
  VaultService,
  | 'view'
  | 'create'
  | 'unlock'
  | 'lock'
  | 'changePassphrase'
  | 'put'
  | 'remove'
  | 'code'
  | 'publicKey'
  | 'issueCertificate'
>;

const NO_VAULT: VaultView = { state: 'none', unlock: { failures: 0 } };

function vaultOf(vault: VaultControls | undefined): VaultControls {
  if (!vault) throw new HttpError(404, 'this agent keeps no vault');
  return vault;
}

function text(body: Record<string, unknown>, key: string, max: number): string {
  const value = body[key];
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw new HttpError(400, `"${key}" must be a string of 1 to ${max} characters`);
  return value;
}

function optional<T>(body: Record<string, unknown>, key: string, read: (value: unknown) => T): T | undefined {
  return body[key] === undefined || body[key] === null ? undefined : read(body[key]);
}

function integer(key: string): (value: unknown) => number {
  return (value) => {
    if (!Number.isSafeInteger(value)) throw new HttpError(400, `"${key}" must be a whole number`);
    return value as number;
  };
}

// An entry from its JSON; the vault checks the values (base32 seeds, digits, periods).
function entryOf(body: Record<string, unknown>): VaultEntry {
  const kind = body.kind as VaultEntry['kind'];
  if (!ENTRY_KINDS.includes(kind)) throw new HttpError(400, `"kind" must be one of ${ENTRY_KINDS.join(', ')}`);
  const secret = text(body, 'secret', 64 * 1024);
  const vm = optional(body, 'vm', (v) => text({ vm: v }, 'vm', 31));
  const common = { secret, ...(vm ? { vm } : {}) };
  const number = (key: string, fallback: number) => optional(body, key, integer(key)) ?? fallback;
  switch (kind) {
    case 'password': {
      const note = optional(body, 'note', (v) => text({ note: v }, 'note', 200));
      return { kind, ...common, ...(note ? { note } : {}) };
    }
    case 'totp': {
      const algorithm = (body.algorithm ?? 'sha1') as 'sha1';
      if (!['sha1', 'sha256', 'sha512'].includes(algorithm))
        throw new HttpError(400, '"algorithm" must be sha1, sha256 or sha512');
      return { kind, ...common, digits: number('digits', 6) as 6, period: number('period', 30), algorithm };
    }
    case 'hotp':
      return { kind, ...common, digits: number('digits', 6) as 6, counter: number('counter', 0) };
    case 'ssh-key':
      return { kind, ...common, publicKey: text(body, 'publicKey', 16 * 1024) };
  }
}

function custodians(body: Record<string, unknown>) {
  return optional(body, 'custodians', (value) => {
    if (typeof value !== 'object' || value === null) throw new HttpError(400, '"custodians" must be an object');
    const c = value as Record<string, unknown>;
    return {
      threshold: integer('custodians.threshold')(c.threshold),
      shares: integer('custodians.shares')(c.shares),
      label: optional(c, 'label', (v) => text({ label: v }, 'label', 64)) ?? 'host vault',
    };
  });
}

// The unlock body: a passphrase, or the shares' texts.
function unlockSecret(body: Record<string, unknown>): { passphrase: string } | { shares: string[] } {
  if (body.shares !== undefined) {
    const shares = body.shares;
    if (!Array.isArray(shares) || shares.length === 0 || shares.length > 32)
      throw new HttpError(400, '"shares" must be a list of 1 to 32 share texts');
    return { shares: shares.map((s, i) => text({ [`shares[${i}]`]: s }, `shares[${i}]`, 1024)) };
  }
  return { passphrase: text(body, 'passphrase', 1024) };
}

// The rows.
export function vaultRoutes(vault: VaultControls | undefined): Route[] {
  const session = { access: 'session' as const };
  return [
    jsonRoute(
      'GET /api/vault',
      { ...session, summary: 'The vault: locked or not, its entries (never a secret)' },
      () => ({
        body: vault ? vault.view() : NO_VAULT,
      }),
    ),
    jsonRoute(
      'POST /api/vault',
      { ...session, summary: 'Make the vault (passphrase; custodians: any T of N shares unlock it too, cards once)' },
      async (ctx) => {
        const recovery = custodians(ctx.body);
        const made = await vaultOf(vault).create(text(ctx.body, 'passphrase', 1024), ctx.caller.user, recovery);
        ctx.auditDetail = recovery ? `custodians ${recovery.threshold} of ${recovery.shares}` : 'passphrase only';
        return { status: 201, body: { vault: made.view, cards: made.cards } };
      },
    ),
    jsonRoute(
      'POST /api/vault/unlock',
      { ...session, summary: 'Unlock the vault with its passphrase or any T shares; it stays in memory only' },
      async (ctx) => {
        const secret = unlockSecret(ctx.body);
        ctx.auditDetail = 'shares' in secret ? `${secret.shares.length} shares` : 'passphrase';
        return { body: await vaultOf(vault).unlock(secret, ctx.caller.user) };
      },
    ),
    jsonRoute('POST /api/vault/lock', { ...session, summary: 'Lock the vault: its key leaves memory' }, (ctx) => ({
      body: vaultOf(vault).lock(ctx.caller.user),
    })),
    jsonRoute(
      'POST /api/vault/passphrase',
      { ...session, summary: 'A new passphrase for the vault, given the current one (the custodians stay)' },
      async (ctx) => ({
        body: await vaultOf(vault).changePassphrase(
          text(ctx.body, 'current', 1024),
          text(ctx.body, 'passphrase', 1024),
          ctx.caller.user,
        ),
      }),
    ),
    jsonRoute(
      'POST /api/vault/entries',
      { ...session, summary: 'Add or replace an entry (password, totp, hotp, ssh-key; vm: the one VM it is for)' },
      async (ctx) => {
        const name = text(ctx.body, 'name', 64);
        const entry = entryOf(ctx.body);
        ctx.auditDetail = `${name} (${entry.kind}${entry.vm ? ` for ${entry.vm}` : ''})`;
        return { body: await vaultOf(vault).put(name, entry) };
      },
    ),
    jsonRoute('DELETE /api/vault/entries/{entry}', { ...session, summary: 'Remove an entry' }, async (ctx) => {
      ctx.auditDetail = ctx.params.entry!;
      return { body: await vaultOf(vault).remove(ctx.params.entry!) };
    }),
    jsonRoute(
      'GET /api/vault/entries/{entry}/code',
      { ...session, summary: 'The current one-time code of a TOTP or HOTP entry' },
      async (ctx) => ({ body: await vaultOf(vault).code(ctx.params.entry!) }),
    ),
    jsonRoute(
      'GET /api/vault/entries/{entry}/public-key',
      { ...session, summary: 'The public key of an SSH key entry' },
      (ctx) => ({ body: { name: ctx.params.entry!, publicKey: vaultOf(vault).publicKey(ctx.params.entry!) } }),
    ),
    jsonRoute(
      'POST /api/vault/ssh-cert',
      { ...session, summary: "A short-lived SSH user certificate for the caller's key, the caller as its principal" },
      (ctx) => {
        const validitySeconds = optional(ctx.body, 'validitySeconds', integer('validitySeconds'));
        const from = optional(ctx.body, 'from', (v) => text({ from: v }, 'from', 64));
        const issued = vaultOf(vault).issueCertificate({
          user: ctx.caller.user,
          publicKey: text(ctx.body, 'publicKey', 16 * 1024),
          ...(validitySeconds !== undefined ? { validitySeconds } : {}),
          ...(from ? { from } : {}),
        });
        ctx.auditDetail = `${issued.validBefore}${from ? ` from ${from}` : ''}`;
        return { body: issued };
      },
    ),
  ];
}
