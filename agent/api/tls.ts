// The TCP API's certificate: the image's pair (from the build's key folder), or the agent's own, made on first start
// and kept in the state folder 0600.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { UserError } from '../../common/errors.ts';
import { refuseOpenToOthers } from '../../common/private-file.ts';
import type { AgentListen, ApiTlsConfig } from '../config.ts';
import { type ListenAddress, parseListenAddress, type TlsFiles } from './listen.ts';
import { isLoopbackHost } from './loopback.ts';
import type { ListenerIdentity } from './origins.ts';
import { makeSelfSigned } from './selfsigned.ts';

// What the listener serves, and what a person compares before trusting it.
export interface ApiCertificate {
  key: Buffer;
  cert: Buffer;
  source: ApiTlsConfig['source'];
  // The certificate file (curl --cacert, a browser's import).
  file: string;
  // SHA-256 of the certificate's DER, as `openssl x509 -noout -fingerprint -sha256` prints it (AB:CD:…).
  fingerprint: string;
  // Made on this start (a new fingerprint to tell people about).
  made: boolean;
}

// What the self-signed certificate is made for and kept while it still fits.
export interface CertificateContext {
  stateDir: string;
  address: ListenAddress;
  names: readonly string[];
  hostName: string;
  now?: Date;
}

// Short enough for Apple's 825-day rule for TLS server certificates; renewed a month before it ends.
const DAYS = 825;
const RENEW_MS = 30 * 86400_000;

function wildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

async function readSecret(file: string, what: string): Promise<Buffer> {
  const mode = (await stat(file)).mode;
  refuseOpenToOthers(file, mode, `the ${what} ${file}`);
  return readFile(file);
}

// What the certificate must name for a client to accept it: the listen address (unless a wildcard) and the configured
// names.
function requiredSubjects(context: CertificateContext): { names: string[]; ips: string[] } {
  return { names: [...context.names], ips: wildcard(context.address.host) ? [] : [context.address.host] };
}

// The host's own addresses now (link-local IPv6 left out: a URL needs its zone, no browser takes it).
function hostAddresses(ipv6: boolean): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal && (ipv6 || a.family === 'IPv4') && !a.address.toLowerCase().startsWith('fe80:'))
    .map((a) => a.address);
}

// What a new certificate names: the required subjects, loopback and localhost, and on a wildcard the host's addresses
// now.
function subjects(context: CertificateContext): { names: string[]; ips: string[] } {
  const required = requiredSubjects(context);
  const local = wildcard(context.address.host) ? hostAddresses(context.address.host === '::') : [];
  return {
    names: [...new Set([...required.names, 'localhost'])],
    ips: [...new Set([...required.ips, '127.0.0.1', '::1', ...local])],
  };
}

function fits(x509: X509Certificate, context: CertificateContext): boolean {
  const now = (context.now ?? new Date()).getTime();
  const { names, ips } = requiredSubjects(context);
  return (
    new Date(x509.validTo).getTime() - RENEW_MS > now &&
    names.every((n) => x509.checkHost(n) !== undefined) &&
    ips.every((ip) => x509.checkIP(ip) !== undefined)
  );
}

function describe(
  cert: Buffer,
  key: Buffer,
  source: ApiCertificate['source'],
  file: string,
  made: boolean,
): ApiCertificate {
  const x509 = new X509Certificate(cert);
  if (!x509.checkPrivateKey(createPrivateKey(key)))
    throw new UserError(`the TLS key does not belong to the certificate ${file}`, {
      hint: 'ship the certificate and the key made with it (rebuild the image)',
    });
  return { key, cert, source, file, fingerprint: x509.fingerprint256, made };
}

async function readPair(keyFile: string, certFile: string): Promise<{ key: Buffer; cert: Buffer } | undefined> {
  try {
    return { key: await readSecret(keyFile, 'TLS key'), cert: await readFile(certFile) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

// Kept while it parses, the two belong together (a crash between the writes leaves a new key beside the old
// certificate), and it fits.
function usable(pair: { key: Buffer; cert: Buffer }, context: CertificateContext): boolean {
  try {
    const x509 = new X509Certificate(pair.cert);
    return x509.checkPrivateKey(createPrivateKey(pair.key)) && fits(x509, context);
  } catch {
    return false;
  }
}

// The agent's own certificate: reused while usable; made again (a new fingerprint, logged) otherwise.
async function selfSigned(context: CertificateContext): Promise<ApiCertificate> {
  const keyFile = join(context.stateDir, 'api-tls.key');
  const certFile = join(context.stateDir, 'api-tls.crt');
  const pair = await readPair(keyFile, certFile);
  if (pair && usable(pair, context)) return describe(pair.cert, pair.key, 'self-signed', certFile, false);
  return remake(context, keyFile, certFile);
}

async function remake(context: CertificateContext, keyFile: string, certFile: string): Promise<ApiCertificate> {
  const { names, ips } = subjects(context);
  const made = makeSelfSigned({
    commonName: `mvos-agent ${context.hostName}`,
    names,
    ips,
    days: DAYS,
    ...(context.now ? { now: context.now } : {}),
  });
  // The key first: a certificate without its key on disk would never be reused.
  await writeFileAtomic(keyFile, made.keyPem, { mode: 0o600 });
  await writeFileAtomic(certFile, made.certPem, { mode: 0o644 });
  return describe(Buffer.from(made.certPem), Buffer.from(made.keyPem), 'self-signed', certFile, true);
}

// The configured certificate, or undefined for plain HTTP.
export async function loadApiCertificate(
  tls: ApiTlsConfig | undefined,
  context: CertificateContext,
): Promise<ApiCertificate | undefined> {
  if (!tls) return undefined;
  if (tls.source === 'self-signed') return selfSigned(context);
  const key = await readSecret(tls.keyFile, 'TLS key');
  return describe(await readFile(tls.certFile), key, 'key-folder', tls.certFile, false);
}

// Plain HTTP only on loopback, unless the config says insecure in words; a UserError (exit 2) otherwise.
export function checkPlainHttp(address: ListenAddress, secure: boolean, insecure: boolean): void {
  if (secure || insecure || isLoopbackHost(address.host)) return;
  throw new UserError(
    `refusing plain HTTP on ${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}: passwords and session cookies would cross the network readable`,
    {
      hint:
        'set agent.api.tls (self-signed or key-folder) in the host recipe, or agent.api.insecure: true, and ' +
        'rebuild',
    },
  );
}

// How the TCP listener is served: where, with which key and certificate (none: plain HTTP), and who it is for the
// Host/Origin checks.
export interface TcpTransport {
  address: ListenAddress;
  secure: boolean;
  tls?: TlsFiles;
  certificate?: ApiCertificate;
  identity: ListenerIdentity;
}

// Parses the address, loads or makes the configured certificate (a test may hand in its own) and refuses plain HTTP off
// loopback unless insecure.
export async function tcpTransport(
  text: string,
  agent: AgentListen,
  options: { stateDir: string; hostName: string; tls?: TlsFiles },
): Promise<TcpTransport> {
  const address = parseListenAddress(text);
  const names = agent.apiNames ?? [];
  const certificate = options.tls
    ? undefined
    : await loadApiCertificate(agent.apiTls, {
        stateDir: options.stateDir,
        address,
        names,
        hostName: options.hostName,
      });
  const tls = options.tls ?? certificate;
  checkPlainHttp(address, Boolean(tls), agent.apiInsecure === true);
  return {
    address,
    secure: Boolean(tls),
    ...(tls ? { tls } : {}),
    ...(certificate ? { certificate } : {}),
    identity: { host: address.host, names },
  };
}
