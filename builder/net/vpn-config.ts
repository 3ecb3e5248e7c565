// Reads a user's VPN provider file (wg-quick .conf or OpenVPN .ovpn) for the router VM that holds the tunnel: what
// the router must know in the clear (servers, addresses, DNS) and the sanitized text it loads, sealed.
import { type Line, Report } from './config-problems.ts';
import { parseOpenVpn } from './openvpn-config.ts';
import { KEY_OPTIONS } from './openvpn-directives.ts';
import { parseWireGuard } from './wireguard-config.ts';

// Which client the router runs for a network's tunnel.
export type VpnProvider = 'wireguard' | 'openvpn';

// A VPN server the router pins and lets through its kill switch; `peer` is the WireGuard public key it belongs to.
export interface VpnEndpoint {
  host: string;
  port: number;
  proto: 'udp' | 'tcp';
  peer?: string;
}

// A provider file, checked: `text` is what the router loads (`wg setconf` form, or the .ovpn without what it sets).
export interface ParsedVpnConfig {
  provider: VpnProvider;
  endpoints: VpnEndpoint[];
  addresses: string[];
  dns: string[];
  mtu?: number;
  text: string;
}

const MAX_FILE_BYTES = 64 * 1024;
const MAX_LINE_CHARS = 4096;

// Parses a provider file; detects the provider from the content unless told. Throws one UserError listing every
// problem found.
export function parseVpnConfig(text: string, file: string, provider?: VpnProvider): ParsedVpnConfig {
  const report = new Report(file);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_FILE_BYTES) {
    report.add(
      1,
      1,
      `the file is ${bytes} bytes: expected at most 65536 (64 KiB)`,
      'a VPN provider file is a few KiB: check that this is the right file',
    );
    report.throwAll();
  }
  const lines = splitLines(text, report);
  const kind = provider ?? detectProvider(lines);
  if (kind === undefined) {
    report.add(
      1,
      1,
      'neither a WireGuard nor an OpenVPN configuration: expected an [Interface] section or OpenVPN directives such as `client` and `remote`',
      'use the .conf (WireGuard) or .ovpn (OpenVPN) file your VPN provider gives you, or name the provider',
    );
    report.throwAll();
  }
  const parsed = kind === 'wireguard' ? parseWireGuard(lines, report) : parseOpenVpn(lines, report);
  report.done();
  return parsed;
}

function splitLines(text: string, report: Report): Line[] {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const raw = body.split('\n');
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  return raw.map((withCr, index) => {
    const number = index + 1;
    const line = withCr.endsWith('\r') ? withCr.slice(0, -1) : withCr;
    let bad = false;
    if (line.length > MAX_LINE_CHARS) {
      report.add(
        number,
        1,
        `the line is ${line.length} characters: expected at most ${MAX_LINE_CHARS}`,
        'a VPN provider file has short lines: check that this is the right file',
      );
      bad = true;
    }
    const control = /[\x00-\x08\x0b-\x1f\x7f]/.exec(line);
    if (control) {
      const code = control[0].charCodeAt(0).toString(16).padStart(2, '0');
      report.add(
        number,
        control.index + 1,
        `control character 0x${code}: expected plain text`,
        'save the file as plain text (UTF-8 or ASCII)',
      );
      bad = true;
    }
    return { number, text: line, bad };
  });
}

function detectProvider(lines: Line[]): VpnProvider | undefined {
  const openvpnWords = new Set([
    'client',
    'tls-client',
    'pull',
    'remote',
    'dev',
    'proto',
    ...KEY_OPTIONS,
    'auth-user-pass',
  ]);
  let openvpn = false;
  for (const { text, bad } of lines) {
    if (bad) continue;
    const stripped = text.replace(/#.*/, '').trim();
    if (/^\[(interface|peer)\]$/i.test(stripped)) return 'wireguard';
    const word = /^(?:--)?<?([a-z0-9-]+)>?(?:\s|$)/.exec(stripped)?.[1];
    if (word !== undefined && openvpnWords.has(word)) openvpn = true;
  }
  return openvpn ? 'openvpn' : undefined;
}
