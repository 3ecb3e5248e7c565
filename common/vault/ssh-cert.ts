// OpenSSH user certificates (PROTOCOL.certkeys, ssh-ed25519-cert-v01@openssh.com), signed by an Ed25519 certificate
// authority: what the vault issues so that VMs and hosts can trust the CA instead of copying keys around. A certificate
// is short-lived, names its principals, and may bind the source address it is good from.
import { createPublicKey, type KeyObject, randomBytes, sign } from 'node:crypto';

const CERT_TYPE = 'ssh-ed25519-cert-v01@openssh.com';
const USER_CERT = 1;
// What an interactive user certificate allows, as ssh-keygen grants by default.
const DEFAULT_EXTENSIONS = [
  'permit-X11-forwarding',
  'permit-agent-forwarding',
  'permit-port-forwarding',
  'permit-pty',
  'permit-user-rc',
];

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function str(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([u32(bytes.length), bytes]);
}

// An Ed25519 public key's 32 bytes from an OpenSSH line (`ssh-ed25519 AAAA… comment`).
export function ed25519FromOpenSsh(line: string): Buffer {
  const [type, blob] = line.trim().split(/\s+/);
  const bytes = Buffer.from(blob ?? '', 'base64');
  const expected = Buffer.concat([str('ssh-ed25519'), u32(32)]);
  if (
    type !== 'ssh-ed25519' ||
    bytes.length !== expected.length + 32 ||
    !bytes.subarray(0, expected.length).equals(expected)
  )
    throw new Error('not an ssh-ed25519 public key');
  return bytes.subarray(expected.length);
}

// A KeyObject's Ed25519 public key as an OpenSSH line.
export function openSshPublicKey(key: KeyObject, comment = ''): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const raw = pub.export({ format: 'der', type: 'spki' }).subarray(12);
  return `ssh-ed25519 ${Buffer.concat([str('ssh-ed25519'), str(raw)]).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

// What a certificate says.
export interface UserCertificate {
  // The user's public key (an OpenSSH ssh-ed25519 line).
  publicKey: string;
  keyId: string;
  principals: string[];
  // Seconds since the epoch.
  validAfter: number;
  validBefore: number;
  // CIDR list the certificate is good from (absent: anywhere).
  sourceAddress?: string;
  serial: bigint;
}

// Issues the certificate, signed with the CA's Ed25519 private key; returns its OpenSSH line.
export function issueUserCertificate(ca: KeyObject, cert: UserCertificate): string {
  if (cert.principals.length === 0) throw new Error('a certificate names at least one principal');
  if (!(cert.validBefore > cert.validAfter)) throw new Error('a certificate must end after it starts');
  const options = cert.sourceAddress
    ? Buffer.concat([str('source-address'), str(str(cert.sourceAddress))])
    : Buffer.alloc(0);
  const extensions = Buffer.concat([...DEFAULT_EXTENSIONS].sort().map((name) => Buffer.concat([str(name), str('')])));
  const caRaw = createPublicKey(ca).export({ format: 'der', type: 'spki' }).subarray(12);
  const signed = Buffer.concat([
    str(CERT_TYPE),
    str(randomBytes(32)),
    str(ed25519FromOpenSsh(cert.publicKey)),
    u64(cert.serial),
    u32(USER_CERT),
    str(cert.keyId),
    str(Buffer.concat(cert.principals.map((p) => str(p)))),
    u64(BigInt(cert.validAfter)),
    u64(BigInt(cert.validBefore)),
    str(options),
    str(extensions),
    str(''),
    str(Buffer.concat([str('ssh-ed25519'), str(caRaw)])),
  ]);
  const signature = str(Buffer.concat([str('ssh-ed25519'), str(sign(null, signed, ca))]));
  return `${CERT_TYPE} ${Buffer.concat([signed, signature]).toString('base64')} ${cert.keyId}`;
}
