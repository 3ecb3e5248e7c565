// A private Tor network for tests, from Debian's `tor` alone (TestingTorNetwork): three directory authorities that are
// relays too, a middle relay and an exit that may reach only 203.0.113.0/24, each on its own /32 on `lo` of a network
// namespace the caller gives (the scenario's "internet"). The lab adds and removes only those addresses and its own
// tor processes; keys, torrcs, data directories and logs stay in `dir` for artifacts.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { endChild } from './child-process.ts';

// How the lab is made.
export interface TorLabOptions {
  // Where each tor gets its folder (made if missing): torrc, data directory and notice.log.
  dir: string;
  // The network namespace the relays run in; it must exist with `lo` up.
  netns: string;
  // The first host octet in 203.0.113.0/24; the five relays take it and the four after it (default 11).
  base?: number;
  // The nameserver the exit resolves hostnames with (default 127.0.0.1 in the namespace: nothing, so no DNS).
  nameserver?: string;
  // How long start() waits for a consensus listing every relay (default 180 s).
  timeoutMs?: number;
}

// One relay of the lab.
export interface TorRelay {
  nickname: string;
  role: 'authority' | 'middle' | 'exit';
  address: string;
  orPort: number;
  // Authorities only.
  dirPort?: number;
  // The RSA identity fingerprint, 40 upper-case hex digits.
  fingerprint: string;
  // The authority's v3 signing identity (its certificate's fingerprint), for DirAuthority lines.
  v3ident?: string;
}

// A tor the lab started besides the relays (a client, an onion service).
export interface TorInstance {
  name: string;
  dataDirectory: string;
  log: string;
  child: ChildProcess;
}

// The ports every relay uses, each on its own address.
export const OR_PORT = 5000;
export const DIR_PORT = 7000;
// The only destinations the exit serves.
export const EXIT_ALLOWED = '203.0.113.0/24';

const ROLES: Array<TorRelay['role']> = ['authority', 'authority', 'authority', 'middle', 'exit'];
const NICKNAMES = ['mvqauth0', 'mvqauth1', 'mvqauth2', 'mvqmiddle', 'mvqexit'];

// Tor's defaults are for the real network; these make a consensus within about a minute (chutney's values: each
// vote-and-distribute must fit in half an interval, which is what tor uses while there is no consensus yet).
const VOTING_INTERVAL_S = 20;
const AUTHORITY_TIMING = [
  `TestingV3AuthInitialVotingInterval ${VOTING_INTERVAL_S}`,
  'TestingV3AuthInitialVoteDelay 4',
  'TestingV3AuthInitialDistDelay 4',
  `V3AuthVotingInterval ${VOTING_INTERVAL_S}`,
  'V3AuthVoteDelay 4',
  'V3AuthDistDelay 4',
  'V3AuthNIntervalsValid 2',
];

// ExitPolicy lines that allow exactly `allowed` (an IPv4 prefix), written as rejects of everything else and then
// `accept *:*`. The plain form (`accept allowed:*`, `reject *:*`) is the same policy, but a client choosing an exit
// for a stream judges it "probably rejected" (tor 0.4.9.11, full descriptors too) and never uses the exit.
export function exitPolicy(allowed: string): string[] {
  const [address = '', bitsText = ''] = allowed.split('/');
  const bits = Number(bitsText);
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255)) || !(bits >= 1 && bits <= 32)) {
    throw new Error(`not an IPv4 prefix: ${allowed}`);
  }
  const value = octets.reduce((sum, o) => sum * 256 + o, 0);
  const text = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
  const lines: string[] = [];
  // For each leading bit of the prefix, the sibling half with that bit flipped lies wholly outside it.
  for (let length = 1; length <= bits; length++) {
    const size = 2 ** (32 - length);
    const start = Math.floor(value / size) * size;
    const sibling = Math.floor(value / size) % 2 === 0 ? start + size : start - size;
    lines.push(`ExitPolicy reject ${text(sibling)}/${length}:*`);
  }
  return [...lines, 'ExitPolicy accept *:*'];
}

// Runs a command to completion (in `netns` when given) and returns its stdout; throws with its stderr.
function run(command: string, args: string[], options: { netns?: string; input?: string } = {}): string {
  const argv = options.netns ? ['ip', 'netns', 'exec', options.netns, command, ...args] : [command, ...args];
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input: options.input });
  if (result.status !== 0) throw new Error(`${argv.join(' ')}: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

// Text appended to a log after `from` characters ('' while the file does not exist).
function readFrom(path: string, from = 0): string {
  return existsSync(path) ? readFileSync(path, 'utf8').slice(from) : '';
}

// Waits until `log` (from character `from`) matches `pattern` and returns the match; throws after `timeoutMs`, or at
// once when `child` has exited.
export async function waitForLog(
  log: string,
  pattern: RegExp,
  timeoutMs: number,
  options: { from?: number; child?: ChildProcess } = {},
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = readFrom(log, options.from).match(pattern);
    if (match) return match;
    const child = options.child;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${pattern} in ${log}: tor exited (${child.exitCode ?? child.signalCode})`);
    }
    if (Date.now() > deadline) throw new Error(`${pattern} in ${log}: not within ${timeoutMs} ms`);
    await sleep(250);
  }
}

// The relays a consensus document lists, by nickname: their flags and when the descriptor it names was published.
function parseConsensus(text: string): Map<string, { flags: string[]; published: string }> {
  const relays = new Map<string, { flags: string[]; published: string }>();
  let current: { flags: string[]; published: string } | undefined;
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields[0] === 'r' && fields.length >= 6) {
      current = { flags: [], published: `${fields[4]} ${fields[5]}` };
      relays.set(fields[1]!, current);
    } else if (fields[0] === 's' && current) current.flags = fields.slice(1);
  }
  return relays;
}

// When each relay's newest descriptor in a descriptor store (an authority's cached-descriptors files) was published.
function newestDescriptors(texts: string[]): Map<string, string> {
  const newest = new Map<string, string>();
  for (const text of texts) {
    for (const [, nickname, published] of text.matchAll(/^router (\S+) [^\n]*\n(?:[^\n]*\n)*?published (\S+ \S+)$/gm)) {
      if (published! > (newest.get(nickname!) ?? '')) newest.set(nickname!, published!);
    }
  }
  return newest;
}

// A running lab; stop() ends every tor it started and removes its addresses.
export class TorLab {
  readonly relays: TorRelay[];
  private readonly children = new Map<string, ChildProcess>();
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly netns: string,
    base: number,
    private readonly nameserver: string,
  ) {
    this.relays = ROLES.map((role, i) => ({
      nickname: NICKNAMES[i]!,
      role,
      address: `203.0.113.${base + i}`,
      orPort: OR_PORT,
      ...(role === 'authority' ? { dirPort: DIR_PORT } : {}),
      fingerprint: '',
    }));
  }

  // Makes keys and torrcs, starts the five relays and waits until the network is usable (see waitForConsensus).
  // Adds the relays' addresses to `lo` in the namespace; removes them and ends the relays again if anything fails.
  static async start(options: TorLabOptions): Promise<TorLab> {
    const base = options.base ?? 11;
    if (base < 1 || base + ROLES.length - 1 > 254) throw new Error(`base ${base}: the relays must fit in .1-.254`);
    const lab = new TorLab(options.dir, options.netns, base, options.nameserver ?? '127.0.0.1');
    try {
      mkdirSync(lab.dir, { recursive: true });
      for (const relay of lab.relays)
        run('ip', ['addr', 'add', `${relay.address}/32`, 'dev', 'lo'], { netns: lab.netns });
      for (const relay of lab.relays) lab.makeKeys(relay);
      lab.writeBandwidths();
      for (const relay of lab.relays) lab.startTor(relay.nickname, lab.relayTorrc(relay));
      await lab.waitForConsensus(options.timeoutMs ?? 180_000);
    } catch (error) {
      await lab.stop();
      throw error;
    }
    return lab;
  }

  // The DirAuthority lines every tor of this network needs.
  dirAuthorityLines(): string[] {
    return this.relays
      .filter((r) => r.role === 'authority')
      .map(
        (r) =>
          `DirAuthority ${r.nickname} orport=${r.orPort} no-v2 v3ident=${r.v3ident} ${r.address}:${r.dirPort} ${r.fingerprint}`,
      );
  }

  // What a client of this network needs (a Tor gateway VM, the check's clients): the testing defaults, the
  // authorities, full descriptors (see below), then `extra`.
  clientTorrc(options: { dataDirectory: string; socksPort?: string; extra?: string[] }): string {
    return [
      'TestingTorNetwork 1',
      `DataDirectory ${options.dataDirectory}`,
      ...(options.socksPort ? [`SocksPort ${options.socksPort}`] : []),
      ...this.dirAuthorityLines(),
      // A microdescriptor carries only a per-port summary of the exit policy, and an exit to one /24 sums up as
      // "reject 1-65535": a client on microdescriptors finds no exit. Full descriptors carry the whole policy.
      'UseMicrodescriptors 0',
      // With five relays, waiting for the usual share of descriptors stalls bootstrap now and then.
      'PathsNeededToBuildCircuits 0.67',
      // Directory information straight from the authorities, as caches fetch it: a relay's cache lags behind the
      // relays' newest descriptors, answers 404 for them, and the client waited 10 s before asking elsewhere.
      'FetchDirInfoEarly 1',
      // Circuits on one machine build in milliseconds; tor learns a timeout of ~40 ms from them and then abandons
      // every circuit that a busy CPU slows down.
      'LearnCircuitBuildTimeout 0',
      'SafeLogging 0',
      ...(options.extra ?? []),
      '',
    ].join('\n');
  }

  // The addresses a web server sees connections from the Tor network come from.
  exitAddresses(): string[] {
    return this.relays.filter((r) => r.role === 'exit').map((r) => r.address);
  }

  // Starts a client tor in the namespace from clientTorrc() plus `extra` (HiddenService lines, ClientOnionAuthDir),
  // its data directory and notice.log in `dir/name`; returns at once, before it bootstraps (see bootstrapped()).
  launch(name: string, options: { socksPort?: string; extra?: string[] } = {}): TorInstance {
    if (this.children.has(name) || this.relays.some((r) => r.nickname === name)) throw new Error(`${name}: taken`);
    const dataDirectory = join(this.dir, name);
    const log = join(dataDirectory, 'notice.log');
    const torrc = this.clientTorrc({
      dataDirectory,
      socksPort: options.socksPort ?? '0',
      extra: ['Sandbox 0', `Log notice file ${log}`, ...(options.extra ?? [])],
    });
    return { name, dataDirectory, log, child: this.startTor(name, torrc) };
  }

  // Waits until a launched tor reports "Bootstrapped 100%"; resolves with the milliseconds it waited.
  async bootstrapped(instance: TorInstance, timeoutMs = 120_000): Promise<number> {
    const started = Date.now();
    await waitForLog(instance.log, /Bootstrapped 100%/, timeoutMs, { child: instance.child });
    return Date.now() - started;
  }

  // Ends one tor the lab started (SIGTERM, then SIGKILL after 3 s); nothing when it already ended.
  async kill(name: string): Promise<void> {
    const child = this.children.get(name);
    this.children.delete(name);
    await endChild(child);
  }

  // Ends every tor of the lab and removes its addresses from `lo`; leaves `dir`. Safe to repeat.
  async stop(): Promise<void> {
    for (const name of [...this.children.keys()]) await this.kill(name);
    if (this.stopped) return;
    this.stopped = true;
    for (const relay of this.relays) {
      spawnSync('ip', ['netns', 'exec', this.netns, 'ip', 'addr', 'del', `${relay.address}/32`, 'dev', 'lo']);
    }
  }

  private folder(name: string): string {
    const path = join(this.dir, name);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if ((statSync(path).mode & 0o777) !== 0o700) throw new Error(`${path} must be 0700 for tor`);
    return path;
  }

  // The relay identity (tor makes it on --list-fingerprint) and, for an authority, its v3 identity and signing keys.
  private makeKeys(relay: TorRelay): void {
    const data = this.folder(relay.nickname);
    if (relay.role === 'authority') {
      mkdirSync(join(data, 'keys'), { recursive: true, mode: 0o700 });
      const key = (name: string) => join(data, 'keys', name);
      // An empty passphrase on fd 0, or tor-gencert asks the terminal for one.
      run(
        'tor-gencert',
        [
          '--create-identity-key',
          '--passphrase-fd',
          '0',
          '-m',
          '12',
          '-a',
          `${relay.address}:${relay.dirPort}`,
          '-i',
          key('authority_identity_key'),
          '-s',
          key('authority_signing_key'),
          '-c',
          key('authority_certificate'),
        ],
        { input: '\n' },
      );
      const v3ident = /^fingerprint ([0-9A-F]{40})$/m.exec(readFileSync(key('authority_certificate'), 'utf8'))?.[1];
      if (!v3ident) throw new Error(`no fingerprint in ${key('authority_certificate')}`);
      relay.v3ident = v3ident;
    }
    run(
      'tor',
      [
        '--quiet',
        '--ignore-missing-torrc',
        '-f',
        '/dev/null',
        '--defaults-torrc',
        '/dev/null',
        '--DataDirectory',
        data,
        '--Nickname',
        relay.nickname,
        '--ORPort',
        String(relay.orPort),
        '--list-fingerprint',
      ],
      { netns: this.netns },
    );
    const fingerprint = readFileSync(join(data, 'fingerprint'), 'utf8').trim().split(' ')[1];
    if (!fingerprint || !/^[0-9A-F]{40}$/.test(fingerprint)) throw new Error(`no fingerprint in ${data}/fingerprint`);
    relay.fingerprint = fingerprint;
  }

  // The bandwidth file (bandwidth-file-spec 1.0.0: a timestamp line, then one line per relay, in KB/s) the authorities
  // vote from; tor ignores a file older than three days, so it is written at each start. Authorities are never
  // weighted by measurement (their votes say MeasuredButAuthority) and keep what they have seen pass, a few KB/s: the
  // other two get a small weight too, so that paths still go through the authorities.
  private writeBandwidths(): void {
    const measured = this.relays.filter((r) => r.role !== 'authority');
    const lines = [String(Math.floor(Date.now() / 1000)), ...measured.map((r) => `node_id=$${r.fingerprint} bw=10`)];
    writeFileSync(join(this.dir, 'bandwidths'), `${lines.join('\n')}\n`);
  }

  private relayTorrc(relay: TorRelay): string {
    const data = join(this.dir, relay.nickname);
    const exit = this.relays.find((r) => r.role === 'exit')!;
    const others = this.relays.filter((r) => r.role !== 'exit');
    const lines = [
      'TestingTorNetwork 1',
      `DataDirectory ${data}`,
      `Nickname ${relay.nickname}`,
      `ContactInfo ${relay.nickname}@example.test`,
      // Tor runs as root here: no User, and the seccomp sandbox off (it is not what the tests look at).
      'Sandbox 0',
      'SocksPort 0',
      `Address ${relay.address}`,
      `ORPort ${relay.address}:${relay.orPort}`,
      // Else the kernel picks a source address on lo and the web server would see 203.0.113.1, not the exit.
      `OutboundBindAddress ${relay.address}`,
      'AssumeReachable 1',
      'ShutdownWaitLength 0',
      `Log notice file ${join(data, 'notice.log')}`,
      'SafeLogging 0',
      'LogTimeGranularity 1',
      ...this.dirAuthorityLines(),
    ];
    if (relay.role === 'authority') {
      lines.push(
        `DirPort ${relay.address}:${relay.dirPort}`,
        'AuthoritativeDirectory 1',
        'V3AuthoritativeDirectory 1',
        ...AUTHORITY_TIMING,
        // Flags a young network would not earn: Exit for the exit alone (its policy is too narrow for the usual
        // rule), Guard for the rest, HSDir for all so onion services have directories.
        `TestingDirAuthVoteExit $${exit.fingerprint}`,
        `TestingDirAuthVoteGuard ${others.map((r) => `$${r.fingerprint}`).join(',')}`,
        'TestingDirAuthVoteHSDir *',
        'TestingMinExitFlagThreshold 0',
        // Without measurements a young relay's weight is what it has seen pass (a few bytes), so the exit lost Fast
        // and clients found no exit by bandwidth; a bandwidth file gives the relays a measured weight.
        `V3BandwidthsFile ${join(this.dir, 'bandwidths')}`,
        // Guard only where TestingDirAuthVoteGuard says: never the one exit.
        'TestingDirAuthVoteGuardIsStrict 1',
        // Stable goes to relays above the median uptime, so one of five (the youngest) would lack it; clients want
        // Stable exits for some circuits (long-lived ports, conflux sets) and then found none.
        'AuthDirVoteStableGuaranteeMinUptime 0',
      );
    }
    if (relay.role === 'exit') {
      const resolvConf = join(data, 'resolv.conf');
      writeFileSync(resolvConf, `nameserver ${this.nameserver}\n`);
      lines.push(
        'ExitRelay 1',
        ...exitPolicy(EXIT_ALLOWED),
        'IPv6Exit 0',
        // Not the host's resolv.conf: its nameserver is outside this namespace.
        `ServerDNSResolvConfFile ${resolvConf}`,
      );
    } else {
      lines.push('ExitPolicy reject *:*');
    }
    return `${lines.join('\n')}\n`;
  }

  // Writes `dir/name/torrc` and starts tor on it in the namespace, stdout and stderr to `dir/name/stdout.log`.
  private startTor(name: string, torrc: string): ChildProcess {
    const folder = this.folder(name);
    const path = join(folder, 'torrc');
    writeFileSync(path, torrc);
    const fd = openSync(join(folder, 'stdout.log'), 'a');
    // An empty defaults file: Debian's /etc/tor/torrc-defaults, if someone made one, is not part of the lab.
    const child = spawn('ip', ['netns', 'exec', this.netns, 'tor', '-f', path, '--defaults-torrc', '/dev/null'], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.children.set(name, child);
    return child;
  }

  // Every authority must hold a consensus that lists all relays Running, the exit with Exit and Fast, at least three
  // HSDirs, and for each relay the newest descriptor that authority has. Relays publish again once their first
  // consensus arrives (their self-test finds the ORPort, their bandwidth changes); a consensus naming the older ones
  // sends clients after descriptors the authorities no longer serve, and bootstrap then stalls until the next one. So
  // "newest" must be final: either every relay has logged its self-test (its republication follows within about a
  // second), or no authority has learned of a newer descriptor for a whole voting interval (an authority does not
  // always log the self-test, and then only the wait shows that nothing more is coming).
  private async waitForConsensus(timeoutMs: number): Promise<void> {
    const exit = this.relays.find((r) => r.role === 'exit')!;
    const authorities = this.relays.filter((r) => r.role === 'authority');
    const selfTested = (relay: TorRelay) =>
      /Self-testing indicates your ORPort/.test(readFrom(join(this.dir, relay.nickname, 'notice.log')));
    const newestAt = (authority: TorRelay): Map<string, string> => {
      const data = join(this.dir, authority.nickname);
      return newestDescriptors([
        readFrom(join(data, 'cached-descriptors')),
        readFrom(join(data, 'cached-descriptors.new')),
      ]);
    };
    const complete = (authority: TorRelay, newest: Map<string, string>): boolean => {
      const listed = parseConsensus(readFrom(join(this.dir, authority.nickname, 'cached-consensus')));
      return (
        this.relays.every((r) => listed.get(r.nickname)?.flags.includes('Running')) &&
        this.relays.every((r) => listed.get(r.nickname)?.published === newest.get(r.nickname)) &&
        ['Exit', 'Fast'].every((flag) => listed.get(exit.nickname)?.flags.includes(flag)) &&
        [...listed.values()].filter((r) => r.flags.includes('HSDir')).length >= 3
      );
    };
    const deadline = Date.now() + timeoutMs;
    let allSelfTested = 0;
    let descriptors = '';
    let descriptorsSince = Date.now();
    for (;;) {
      if (!allSelfTested && this.relays.every(selfTested)) allSelfTested = Date.now();
      const newest = authorities.map(newestAt);
      const seen = JSON.stringify(newest.map((m) => [...m].sort()));
      if (seen !== descriptors) {
        descriptors = seen;
        descriptorsSince = Date.now();
      }
      const final =
        (allSelfTested > 0 && Date.now() - allSelfTested > 3000) ||
        Date.now() - descriptorsSince > VOTING_INTERVAL_S * 1000;
      if (final && authorities.every((a, i) => complete(a, newest[i]!))) return;
      for (const relay of this.relays) {
        const child = this.children.get(relay.nickname);
        if (child && child.exitCode !== null) {
          throw new Error(`tor ${relay.nickname} exited with ${child.exitCode}: see ${join(this.dir, relay.nickname)}`);
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`no consensus listing every relay within ${timeoutMs} ms: see ${this.dir}/*/notice.log`);
      }
      await sleep(500);
    }
  }
}
