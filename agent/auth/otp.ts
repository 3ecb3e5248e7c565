// One-time codes (TOTP, RFC 6238; HOTP, RFC 4226) through otplib, each code accepted at most once, even across
// restarts.
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { verify } from 'otplib';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { readJsonOr } from '../../common/files.ts';
import { SerialQueue } from '../../common/serial-queue.ts';
import type { AgentUser } from '../config.ts';
import { openUserSecret } from './secrets.ts';

// Why a code was refused; `replayed` means it was right once and has been used.
export type OtpRefusal = 'unknown-user' | 'no-otp' | 'wrong-code' | 'replayed';

// The outcome of one code check.
export type OtpResult = { ok: true } | { ok: false; reason: OtpRefusal };

// Knobs for tests and for unusual tokens; the defaults are the authenticator-app ones.
export interface OtpOptions {
  // Milliseconds since the epoch (tests move it).
  now?: () => number;
  // How many HOTP counters past the expected one a code may be (a token pressed without logging in).
  hotpLookAhead?: number;
}

// What is remembered per user: the last TOTP step used, or the next HOTP counter; secretId resets it on re-enrollment.
interface UserState {
  secretId: string;
  lastStep?: number;
  nextCounter?: number;
}

const PERIOD = 30;
const DIGITS = 6;
// Past HOTP counters checked so a used code reads as `replayed` rather than `wrong-code`.
const HOTP_PAST = 20;
const STATE_FILE = 'otp-state.json';
// Checks per state file, process-wide: two verifiers on one folder (SSH and HTTP) still take turns.
const queues = new Map<string, SerialQueue>();

// Checks users' codes against their secrets and a persisted replay record kept in stateDir/otp-state.json.
export class OtpVerifier {
  private readonly secrets = new Map<string, { type: 'totp' | 'hotp'; secret: string; id: string }>();
  private readonly names: Set<string>;
  private readonly file: string;
  private readonly now: () => number;
  private readonly lookAhead: number;

  // Opens every sealed secret now, so a wrong key or a tampered host.json stops the agent at start, not at a login.
  constructor(users: AgentUser[], key: Buffer | undefined, stateDir: string, options: OtpOptions = {}) {
    this.names = new Set(users.map((u) => u.name));
    for (const user of users) {
      if (!user.otp) continue;
      if (!key) throw new Error(`user ${user.name} has a one-time code but no secret key was given`);
      const secret = openUserSecret(key, user)!;
      const id = createHmac('sha256', key).update(`${user.otp.type}:${secret}`).digest('hex').slice(0, 32);
      this.secrets.set(user.name, { type: user.otp.type, secret, id });
    }
    this.file = join(stateDir, STATE_FILE);
    this.now = options.now ?? Date.now;
    this.lookAhead = options.hotpLookAhead ?? 10;
  }

  // Checks one code; accepted codes are recorded durably before the answer, and checks of one state file run one at a
  // time.
  verify(user: string, code: string): Promise<OtpResult> {
    const queue = queues.get(this.file) ?? new SerialQueue();
    queues.set(this.file, queue);
    const run = queue.run(() => this.check(user, code));
    // The map keeps only files being checked now.
    void queue.settled().then(() => {
      if (queue.idle && queues.get(this.file) === queue) queues.delete(this.file);
    });
    return run;
  }

  private async check(name: string, code: string): Promise<OtpResult> {
    if (!this.names.has(name)) return { ok: false, reason: 'unknown-user' };
    const entry = this.secrets.get(name);
    if (!entry) return { ok: false, reason: 'no-otp' };
    if (!new RegExp(`^[0-9]{${DIGITS}}$`).test(code)) return { ok: false, reason: 'wrong-code' };
    // Read afresh each time: another verifier (or process) on the same folder may have used a code since.
    const saved = await readJsonOr<Record<string, UserState>>(this.file, {});
    const previous = saved[name]?.secretId === entry.id ? saved[name] : { secretId: entry.id };
    const next =
      entry.type === 'totp'
        ? await this.totp(entry.secret, code, previous)
        : await this.hotp(entry.secret, code, previous);
    if ('reason' in next) return { ok: false, reason: next.reason };
    await writeFileAtomic(this.file, `${JSON.stringify({ ...saved, [name]: next }, null, 2)}\n`);
    return { ok: true };
  }

  private async totp(secret: string, token: string, previous: UserState): Promise<UserState | { reason: OtpRefusal }> {
    const epoch = Math.floor(this.now() / 1000);
    const result = await verify({
      secret,
      token,
      strategy: 'totp',
      epoch,
      period: PERIOD,
      digits: DIGITS,
      epochTolerance: PERIOD,
    });
    if (!result.valid) return { reason: 'wrong-code' };
    const step = (result as { timeStep: number }).timeStep;
    if (previous.lastStep !== undefined && step <= previous.lastStep) return { reason: 'replayed' };
    return { secretId: previous.secretId, lastStep: step };
  }

  private async hotp(secret: string, token: string, previous: UserState): Promise<UserState | { reason: OtpRefusal }> {
    const counter = previous.nextCounter ?? 0;
    const result = await verify({
      secret,
      token,
      strategy: 'hotp',
      counter,
      digits: DIGITS,
      counterTolerance: [0, this.lookAhead],
    });
    if (result.valid) return { secretId: previous.secretId, nextCounter: counter + result.delta + 1 };
    const past = Math.min(counter, HOTP_PAST);
    if (past > 0) {
      const used = await verify({
        secret,
        token,
        strategy: 'hotp',
        counter: counter - past,
        digits: DIGITS,
        counterTolerance: [0, past - 1],
      });
      if (used.valid) return { reason: 'replayed' };
    }
    return { reason: 'wrong-code' };
  }
}
