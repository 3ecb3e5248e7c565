// Key formats of v3 onion service client authorization ("restricted discovery"): an x25519 keypair, each half the raw
// 32 bytes in RFC 4648 base32 without padding, written as Tor's authorized_clients/*.auth and *.auth_private lines.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { base32, base32Decode } from '../base32.ts';

// The PKCS #8 DER of an x25519 private key up to its 32 raw bytes (RFC 8410); Node 20 imports no JWK without "x".
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// An x25519 keypair for client authorization, both halves in unpadded upper-case base32 (52 characters each).
export interface OnionAuthKeys {
  publicKey: string;
  privateKey: string;
}

// The raw bytes of an OKP key (x25519, ed25519) as its JWK holds them: `d` the private half, `x` the public one.
export function rawKeyPart(key: KeyObject, part: 'd' | 'x'): Buffer {
  const value = key.export({ format: 'jwk' })[part];
  if (!value) throw new Error(`${key.asymmetricKeyType} key without "${part}"`);
  return Buffer.from(value, 'base64url');
}

// A fresh x25519 keypair for one client.
export function onionAuthKeypair(): OnionAuthKeys {
  const { privateKey } = generateKeyPairSync('x25519');
  return onionAuthKeysFromPrivate(base32(rawKeyPart(privateKey, 'd')));
}

// The keypair whose private half is this base32 key (the public half derived).
export function onionAuthKeysFromPrivate(privateKey: string): OnionAuthKeys {
  const d = base32Decode(privateKey);
  if (d.length !== 32) throw new Error(`x25519 private key of ${d.length} bytes, not 32`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, d]), format: 'der', type: 'pkcs8' });
  return { publicKey: base32(rawKeyPart(createPublicKey(key), 'x')), privateKey };
}

// The line of a service's authorized_clients/NAME.auth file for a client's public key.
export function authorizedClientLine(publicKey: string): string {
  return `descriptor:x25519:${publicKey}`;
}

// The line of a client's ClientOnionAuthDir/*.auth_private file: the onion address (56 characters, with or without
// ".onion"), then the client's private key.
export function authPrivateLine(onion: string, privateKey: string): string {
  const address = onion.replace(/\.onion$/, '');
  if (!/^[a-z2-7]{56}$/.test(address)) throw new Error(`not a v3 onion address: ${onion}`);
  return `${address}:descriptor:x25519:${privateKey}`;
}
