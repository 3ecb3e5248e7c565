// Password hashes for the HTTP login: scrypt with a random salt, stored as `scrypt$N$r$p$<salt>$<hash>` (base64); `mvos
// user passwd` writes them, the agent checks them.
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

const N = 1 << 15;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// Highest cost we agree to compute for a stored hash, so a crafted hash cannot exhaust memory or CPU.
const MAX_N = 1 << 20;

function derive(password: string, salt: Buffer, n: number, r: number, p: number, length: number): Promise<Buffer> {
  const options: ScryptOptions = { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

// Hashes a password with a fresh salt.
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, N, R, P, HASH_BYTES);
  return ['scrypt', N, R, P, salt.toString('base64'), hash.toString('base64')].join('$');
}

function parse(stored: string): { n: number; r: number; p: number; salt: Buffer; hash: Buffer } | undefined {
  const parts = stored.split('$');
  const [scheme, nText, rText, pText, saltText, hashText] = parts;
  if (parts.length !== 6 || scheme !== 'scrypt') return undefined;
  const count = (s: string | undefined): number => (s !== undefined && /^[1-9][0-9]{0,7}$/.test(s) ? Number(s) : NaN);
  const n = count(nText);
  const r = count(rText);
  const p = count(pText);
  const b64 = /^[A-Za-z0-9+/]+={0,2}$/;
  if (saltText === undefined || hashText === undefined || !b64.test(saltText) || !b64.test(hashText)) return undefined;
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  const powerOfTwo = Number.isInteger(n) && n > 1 && (n & (n - 1)) === 0;
  if (
    !powerOfTwo ||
    n > MAX_N ||
    !(r >= 1 && r <= 32) ||
    !(p >= 1 && p <= 16) ||
    salt.length < 8 ||
    hash.length < 16 ||
    hash.length > 64
  )
    return undefined;
  return { n, r, p, salt, hash };
}

// True when the password matches the stored hash; a malformed or unreasonably costly hash is false, never an error.
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const candidate = await derive(password, parsed.salt, parsed.n, parsed.r, parsed.p, parsed.hash.length).catch(
    () => undefined,
  );
  return candidate !== undefined && timingSafeEqual(candidate, parsed.hash);
}
