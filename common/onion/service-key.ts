// A v3 onion service's identity: an ed25519 key in the file Tor reads (hs_ed25519_secret_key) and the address it gives
// (rend-spec-v3 "Encoding onion addresses": base32 of the public key, a checksum and the version, 56 characters).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { base32, base32Decode } from '../base32.ts';
import { rawKeyPart } from './client-auth.ts';

// The 32-byte headers of Tor's key files (the tag, NUL-padded).
const SECRET_HEADER = header('== ed25519v1-secret: type0 ==');
const PUBLIC_HEADER = header('== ed25519v1-public: type0 ==');
const SECRET_FILE_SIZE = 32 + 64;
// The PKCS #8 DER of an ed25519 private key up to its 32-byte seed (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const VERSION = 3;

function header(tag: string): Buffer {
  const bytes = Buffer.alloc(32);
  bytes.write(tag, 'latin1');
  return bytes;
}

// An onion service key: the seed it was made from (what we keep) and what Tor and people see of it.
export interface OnionServiceKey {
  // The 32-byte ed25519 seed.
  seed: Buffer;
  // hs_ed25519_secret_key as Tor writes it: the header, then the expanded key (clamped scalar and hash prefix).
  secretKeyFile: Buffer;
  // hs_ed25519_public_key as Tor writes it.
  publicKeyFile: Buffer;
  // The address with ".onion".
  address: string;
}

// The onion address of an ed25519 public key.
export function onionAddress(publicKey: Buffer): string {
  if (publicKey.length !== 32) throw new Error(`ed25519 public key of ${publicKey.length} bytes, not 32`);
  const version = Buffer.from([VERSION]);
  const checksum = createHash('sha3-256')
    .update(Buffer.concat([Buffer.from('.onion checksum'), publicKey, version]))
    .digest()
    .subarray(0, 2);
  return `${base32(Buffer.concat([publicKey, checksum, version])).toLowerCase()}.onion`;
}

// The service key of a seed: Tor's expanded secret key is SHA-512 of the seed with its first half clamped (RFC 8032).
export function onionServiceKey(seed: Buffer): OnionServiceKey {
  if (seed.length !== 32) throw new Error(`ed25519 seed of ${seed.length} bytes, not 32`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = rawKeyPart(createPublicKey(key), 'x');
  const expanded = createHash('sha512').update(seed).digest();
  expanded[0]! &= 248;
  expanded[31]! &= 63;
  expanded[31]! |= 64;
  return {
    seed: Buffer.from(seed),
    secretKeyFile: Buffer.concat([SECRET_HEADER, expanded]),
    publicKeyFile: Buffer.concat([PUBLIC_HEADER, publicKey]),
    address: onionAddress(publicKey),
  };
}

// A fresh service key.
export function newOnionServiceKey(): OnionServiceKey {
  return onionServiceKey(rawKeyPart(generateKeyPairSync('ed25519').privateKey, 'd'));
}

// Whether bytes are a secret key file of Tor's (its header and size).
export function isSecretKeyFile(bytes: Buffer): boolean {
  return bytes.length === SECRET_FILE_SIZE && bytes.subarray(0, 32).equals(SECRET_HEADER);
}

// Whether a string is a v3 onion address (with or without ".onion") whose checksum and version hold.
export function isOnionAddress(text: string): boolean {
  const bare = text.replace(/\.onion$/, '');
  if (!/^[a-z2-7]{56}$/.test(bare)) return false;
  const bytes = base32Decode(bare);
  return bytes.length === 35 && onionAddress(bytes.subarray(0, 32)) === `${bare}.onion`;
}
