// The TCP API's certificate and key a host image ships (recipe agent.api.tls: key-folder): read from the key folder and
// checked before they go in.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { UserError } from '../../common/errors.ts';
import { refuseOpenToOthers } from '../../common/private-file.ts';

// Where the image keeps the certificate (world-readable: it is public).
export const IMAGE_API_CERT = '/etc/mvos/api-tls.crt';
// Where the image keeps the key: root-only (0400), like the secret key.
export const IMAGE_API_KEY = '/etc/mvos/api-tls.key';

// The key folder's files: PEM certificate (a chain may follow it) and its PEM private key.
export function apiTlsFiles(keyDir: string): { cert: string; key: string } {
  const dir = join(resolve(keyDir), 'agent');
  return { cert: join(dir, 'api-tls.crt'), key: join(dir, 'api-tls.key') };
}

// What the build ships, and the SHA-256 fingerprint of the certificate (DER) a person compares.
export interface ApiTlsPair {
  cert: Buffer;
  key: Buffer;
  fingerprint: string;
}

// The host part of a listen address when it names one address (not 0.0.0.0 or ::), e.g. "192.0.2.10" or "2001:db8::1".
function specificHost(listen: string | undefined): string | undefined {
  const host = listen?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host && isIP(host) && host !== '0.0.0.0' && host !== '::' ? host : undefined;
}

async function readPem(file: string, what: string, secret: boolean): Promise<Buffer> {
  const makeIt = `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 -subj /CN=mvos -addext subjectAltName=DNS:<name>,IP:<address> -keyout ${apiTlsFiles('<keys>').key} -out ${apiTlsFiles('<keys>').cert}`;
  try {
    const mode = (await stat(file)).mode;
    if (secret) refuseOpenToOthers(file, mode);
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new UserError(`agent.api.tls is key-folder, but the key folder has no ${what} (${file})`, {
      hint: `put your certificate and key there (e.g. \`${makeIt}\` with <keys> the key folder), or use \`tls: self-signed\``,
    });
  }
}

// Reads and checks the pair: both PEM, the key the certificate's, not expired, and covering the listen address and
// every name.
export async function readApiTls(
  keyDir: string,
  agent: { apiListen?: string; apiNames: readonly string[] },
  now = new Date(),
): Promise<ApiTlsPair> {
  const files = apiTlsFiles(keyDir);
  const [cert, key] = [await readPem(files.cert, 'TLS certificate', false), await readPem(files.key, 'TLS key', true)];
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new UserError(`${files.cert} is not a PEM certificate: ${(error as Error).message}`, { cause: error });
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (error) {
    throw new UserError(`${files.key} is not a PEM private key: ${(error as Error).message}`, {
      cause: error,
      hint: 'an encrypted key cannot be shipped: the agent starts unattended',
    });
  }
  if (!matches)
    throw new UserError(`${files.key} is not the key of ${files.cert}`, {
      hint: 'put the certificate and the key made with it side by side',
    });
  if (new Date(x509.validTo) <= now)
    throw new UserError(`${files.cert} expired on ${x509.validTo}`, { hint: 'renew it, or use `tls: self-signed`' });
  const host = specificHost(agent.apiListen);
  const missing = [
    ...(host && !x509.checkIP(host) ? [host] : []),
    ...agent.apiNames.filter((name) => !x509.checkHost(name)),
  ];
  if (missing.length > 0) {
    throw new UserError(
      `${files.cert} does not cover ${missing.join(', ')} (its names: ${x509.subjectAltName ?? 'none'})`,
      {
        hint:
          'browsers and curl check the subjectAltName: make the certificate for the listen address and ' +
          'agent.api.names',
      },
    );
  }
  return { cert, key, fingerprint: x509.fingerprint256 };
}
