// Reads a WireGuard file into its [Interface] and [Peer] sections, with the known keys of each and where they stand.
import type { Line, Report } from './config-problems.ts';

const KEY_WORD = /^[A-Za-z][A-Za-z ]{0,29}$/;

// Only text shaped like a name goes into a message: a misplaced line may be a private key.
function shown(text: string, shape: RegExp): string {
  return shape.test(text) ? ` ${text}` : '';
}

// The [Interface] keys that run commands.
export const HOOKS = ['PreUp', 'PostUp', 'PreDown', 'PostDown'];

const INTERFACE_KEYS: Record<string, string> = Object.fromEntries(
  ['PrivateKey', 'ListenPort', 'FwMark', 'Address', 'DNS', 'MTU', 'Table', 'SaveConfig', ...HOOKS].map((key) => [
    key.toLowerCase(),
    key,
  ]),
);
const PEER_KEYS: Record<string, string> = Object.fromEntries(
  ['PublicKey', 'PresharedKey', 'AllowedIPs', 'Endpoint', 'PersistentKeepalive'].map((key) => [key.toLowerCase(), key]),
);
const REPEATABLE = new Set(['Address', 'DNS', 'AllowedIPs', 'Table', 'SaveConfig', ...HOOKS]);

// One `Key = value` line: the value and where the line stands.
export interface Entry {
  value: string;
  line: number;
  col: number;
}

// A section and its entries by canonical key name, in file order.
export interface Section {
  kind: 'Interface' | 'Peer';
  line: number;
  col: number;
  entries: Map<string, Entry[]>;
}

// The sections of the file; reports unknown sections and keys, keys in the wrong section and repeats of single keys.
export function readSections(lines: Line[], report: Report): Section[] {
  const sections: Section[] = [];
  let current: Section | undefined;
  let skipping = false;
  for (const { number, text, bad } of lines) {
    if (bad) continue;
    const body = text.replace(/#.*/, '');
    const stripped = body.trim();
    if (stripped === '') continue;
    const col = body.length - body.trimStart().length + 1;
    if (stripped.startsWith('[')) {
      const kind = /^\[interface\]$/i.test(stripped) ? 'Interface' : /^\[peer\]$/i.test(stripped) ? 'Peer' : undefined;
      skipping = kind === undefined;
      if (kind === undefined) {
        report.add(
          number,
          col,
          `unknown section${shown(stripped, /^\[[A-Za-z ]{1,30}\]$/)}: expected [Interface] or [Peer]`,
          'a WireGuard file has one [Interface] section and a [Peer] section for each server',
        );
        continue;
      }
      current = { kind, line: number, col, entries: new Map() };
      sections.push(current);
      continue;
    }
    if (skipping) continue;
    const eq = stripped.indexOf('=');
    if (eq < 0) {
      report.add(
        number,
        col,
        'expected `Key = value` or a section header such as [Peer]',
        'WireGuard files hold `Key = value` lines under [Interface] and [Peer]',
      );
      continue;
    }
    const written = stripped.slice(0, eq).trim();
    const entry = { value: stripped.slice(eq + 1).trim(), line: number, col };
    if (current === undefined) {
      report.add(
        number,
        col,
        `key${shown(written, KEY_WORD)} stands before any section: expected it under [Interface] or [Peer]`,
        'start the file with [Interface]',
      );
      continue;
    }
    const [own, other] = current.kind === 'Interface' ? [INTERFACE_KEYS, PEER_KEYS] : [PEER_KEYS, INTERFACE_KEYS];
    const key = own[written.toLowerCase()];
    if (key === undefined) {
      const elsewhere = other[written.toLowerCase()];
      report.add(
        number,
        col,
        elsewhere
          ? `${elsewhere} belongs under [${current.kind === 'Interface' ? 'Peer' : 'Interface'}], not [${current.kind}]`
          : `unknown key${shown(written, KEY_WORD)} in [${current.kind}]: expected one of ${Object.values(own).join(', ')}`,
        'compare the line with the file your VPN provider gives you',
      );
      continue;
    }
    const list = current.entries.get(key) ?? [];
    if (list.length > 0 && !REPEATABLE.has(key)) {
      report.add(
        number,
        col,
        `${key} appears twice in this [${current.kind}] section: expected it once`,
        `keep one ${key} line`,
      );
      continue;
    }
    list.push(entry);
    current.entries.set(key, list);
  }
  return sections;
}

// The first entry of `key`, the only one for keys that may not repeat.
export function one(section: Section, key: string): Entry | undefined {
  return section.entries.get(key)?.[0];
}
