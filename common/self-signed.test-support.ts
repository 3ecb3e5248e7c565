// Test support: a self-signed TLS certificate and key, made with openssl as the key-folder hint in
// builder/secrets/api-tls.ts tells people to make theirs.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';

// Writes a P-256 key (0600) and a self-signed certificate for `subject` and `san` (e.g. `IP:127.0.0.1`) valid `days`.
export function writeSelfSigned(files: { key: string; cert: string }, subject: string, san: string, days = 1): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      String(days),
      '-subj',
      subject,
      '-addext',
      `subjectAltName=${san}`,
      '-keyout',
      files.key,
      '-out',
      files.cert,
    ],
    { stdio: 'ignore' },
  );
  chmodSync(files.key, 0o600);
}
