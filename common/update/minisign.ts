// Ed25519 signatures in minisign's format (https://jedisct1.github.io/minisign/): a public key and a signature file any
// `minisign -V` checks, and the check itself. Signatures are of the prehashed kind ("ED": Ed25519 over BLAKE2b-512 of
// the message, minisign's default), with a trusted comment that a second signature binds to the first.
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

const PREFIX_PUBLIC = 'untrusted comment: minisign public key ';
const TRUSTED = 'trusted comment: ';
// The DER prefix of an ed25519 SubjectPublicKeyInfo up to its 32 raw bytes (RFC 8410).
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
// The most a trusted comment may hold (minisign's own limit is 1024 bytes).
const MAX_TRUSTED_COMMENT = 1024;

// A public key as minisign writes it: its 8-byte id and the raw 32-byte key.
export interface MinisignPublicKey {
  keyId: Buffer;
  key: KeyObject;
}

// What a good signature vouches for beyond the message: its trusted comment.
export interface MinisignVerified {
  trustedComment: string;
}

// Why a signature was refused.
export class SignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

// The id minisign shows for a key: its 8 bytes as a little-endian number in upper-case hex.
export function keyIdText(keyId: Buffer): string {
  return Buffer.from(keyId).reverse().toString('hex').toUpperCase();
}

function rawPublic(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

// A key's id: the first 8 bytes of SHA-256 of its public half (minisign picks random ids; ours are derived, so the same
// key always has the same id).
export function keyIdOf(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(rawPublic(publicKey)).digest().subarray(0, 8);
}

// The public key file (`minisign -p`) of an ed25519 key (private or public half).
export function publicKeyFile(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const keyId = keyIdOf(publicKey);
  const body = Buffer.concat([Buffer.from('Ed'), keyId, rawPublic(publicKey)]).toString('base64');
  return `${PREFIX_PUBLIC}${keyIdText(keyId)}\n${body}\n`;
}

function decode(line: string | undefined, what: string, size: number): Buffer {
  if (line === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(line.trim()))
    throw new SignatureError(`${what} is not base64`);
  const bytes = Buffer.from(line.trim(), 'base64');
  if (bytes.length !== size) throw new SignatureError(`${what} is ${bytes.length} bytes, not ${size}`);
  return bytes;
}

// Reads a public key file (minisign's, or ours), or the bare base64 line of one.
export function parsePublicKey(text: string): MinisignPublicKey {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const body = lines.find((l) => !l.startsWith('untrusted comment:'));
  const bytes = decode(body, 'the public key', 42);
  if (bytes.subarray(0, 2).toString() !== 'Ed') throw new SignatureError('not an Ed25519 minisign public key');
  const key = createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, bytes.subarray(10)]),
    format: 'der',
    type: 'spki',
  });
  return { keyId: bytes.subarray(2, 10), key };
}

// Signs `message` with an ed25519 private key: the signature file `minisign -S` would write.
export function signMinisign(privateKey: KeyObject, message: Uint8Array, trustedComment: string): string {
  if (/[\r\n]/.test(trustedComment) || Buffer.byteLength(trustedComment) > MAX_TRUSTED_COMMENT)
    throw new Error('a trusted comment is one line of at most 1024 bytes');
  const keyId = keyIdOf(createPublicKey(privateKey));
  const digest = createHash('blake2b512').update(message).digest();
  const signature = sign(null, digest, privateKey);
  const global = sign(null, Buffer.concat([signature, Buffer.from(trustedComment)]), privateKey);
  return [
    `untrusted comment: signature from mvos secret key ${keyIdText(keyId)}`,
    Buffer.concat([Buffer.from('ED'), keyId, signature]).toString('base64'),
    `${TRUSTED}${trustedComment}`,
    global.toString('base64'),
    '',
  ].join('\n');
}

// Checks a signature file against the message and the trusted key; returns its trusted comment or throws
// SignatureError (another key, a changed message, a changed trusted comment, a malformed file).
export function verifyMinisign(
  publicKey: MinisignPublicKey,
  signatureFile: string,
  message: Uint8Array,
): MinisignVerified {
  if (signatureFile.length > 4096) throw new SignatureError('the signature file is too long');
  const lines = signatureFile.split('\n');
  if (!lines[0]?.startsWith('untrusted comment:')) throw new SignatureError('not a minisign signature');
  const body = decode(lines[1], 'the signature', 74);
  const algorithm = body.subarray(0, 2).toString();
  if (algorithm !== 'ED' && algorithm !== 'Ed') throw new SignatureError(`unknown signature algorithm ${algorithm}`);
  if (!body.subarray(2, 10).equals(publicKey.keyId))
    throw new SignatureError(
      `signed by key ${keyIdText(body.subarray(2, 10))}, not by the trusted key ${keyIdText(publicKey.keyId)}`,
    );
  const signature = body.subarray(10);
  const signed = algorithm === 'ED' ? createHash('blake2b512').update(message).digest() : Buffer.from(message);
  if (!verify(null, signed, publicKey.key, signature)) throw new SignatureError('the signature does not match');
  if (!lines[2]?.startsWith(TRUSTED)) throw new SignatureError('no trusted comment');
  const trustedComment = lines[2].slice(TRUSTED.length);
  const global = decode(lines[3], 'the trusted comment signature', 64);
  if (!verify(null, Buffer.concat([signature, Buffer.from(trustedComment)]), publicKey.key, global))
    throw new SignatureError('the trusted comment was changed');
  return { trustedComment };
}

// An ed25519 private key from its PEM (PKCS #8).
export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 private key');
  return key;
}
