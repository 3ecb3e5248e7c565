// An "internet" for network tests: a network namespace with taps (one for a router's uplink, more for direct
// baselines), DHCP and DNS from dnsmasq, an HTTP server (a page, a large file, and a mail port that answers), all on
// documentation addresses; made and removed by the test, nothing outside it touched.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// The page the HTTP server answers with.
export const INTERNET_PAGE = 'MVOS-INTERNET-PAGE';
// The DNS name the internet's DNS answers with its own address.
export const INTERNET_NAME = 'www.example.test';
// Bytes of /big.
export const BIG_BYTES = 32 * 1024 * 1024;

// One tap of the internet: its name, its own address (the gateway there) and the DHCP range it serves.
export interface InternetTap {
  name: string;
  address: string;
  range: [string, string];
  // Fixed leases, by MAC.
  hosts?: Array<{ mac: string; address: string }>;
  // A veth instead of a tap: its peer, of that name, goes to that namespace (where a router's QEMU reaches it).
  peer?: { name: string; netns: string };
}

// Runs `ip` (in `netns` when given) and returns its output; throws with its error.
export function ip(args: string[], netns?: string): string {
  const argv = netns ? ['netns', 'exec', netns, 'ip', ...args] : args;
  const result = spawnSync('ip', argv, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ip ${argv.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

// dnsmasq as the tests run it: in the foreground, nothing from this machine's configuration, bound to the interfaces
// it is given.
export const TEST_DNSMASQ = ['--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces'];

// A running internet; stop() ends its programs and removes the namespace with its taps.
export class Internet {
  private readonly children: ChildProcess[] = [];
  // Seconds each GET /big took on the server, in order.
  readonly bigSeconds: number[] = [];
  // The address each request came from, in order.
  private readonly sources: string[] = [];

  private constructor(
    readonly netns: string,
    readonly dir: string,
  ) {}

  // Makes the namespace, its taps, dnsmasq, the HTTP server and (with `capture`) tcpdump on the first tap.
  static async start(options: {
    netns: string;
    dir: string;
    taps: InternetTap[];
    capture?: boolean;
    // More names its DNS answers, each with its address.
    names?: Array<[string, string]>;
  }): Promise<Internet> {
    const net = new Internet(options.netns, options.dir);
    spawnSync('ip', ['netns', 'del', options.netns]);
    ip(['netns', 'add', options.netns]);
    ip(['link', 'set', 'lo', 'up'], options.netns);
    for (const tap of options.taps) {
      if (tap.peer)
        ip([
          'link',
          'add',
          tap.name,
          'netns',
          options.netns,
          'type',
          'veth',
          'peer',
          'name',
          tap.peer.name,
          'netns',
          tap.peer.netns,
        ]);
      else ip(['tuntap', 'add', 'dev', tap.name, 'mode', 'tap'], options.netns);
      ip(['addr', 'add', `${tap.address}/24`, 'dev', tap.name], options.netns);
      ip(['link', 'set', tap.name, 'up'], options.netns);
    }
    net.spawn(
      'dnsmasq',
      [
        ...TEST_DNSMASQ,
        ...options.taps.map((t) => `--interface=${t.name}`),
        ...options.taps.map((t) => `--dhcp-range=${t.range[0]},${t.range[1]},255.255.255.0,1h`),
        ...options.taps.flatMap((t) => (t.hosts ?? []).map((h) => `--dhcp-host=${h.mac},${h.address}`)),
        `--address=/${INTERNET_NAME}/${options.taps[0]!.address}`,
        ...(options.names ?? []).map(([name, address]) => `--address=/${name}/${address}`),
        `--dhcp-leasefile=${join(options.dir, 'internet.leases')}`,
        '--log-dhcp',
        '--log-queries',
      ],
      'internet-dnsmasq.log',
    );
    const server = net.spawn(
      process.execPath,
      [
        '-e',
        `const big = Buffer.alloc(${BIG_BYTES});` +
          "require('http').createServer((q, s) => { const t = process.hrtime.bigint(); console.log('from ' + q.socket.remoteAddress);" +
          "if (q.url === '/big') { s.on('finish', () => console.log('big ' + Number(process.hrtime.bigint() - t) / 1e9)); s.end(big); }" +
          `else s.end('${INTERNET_PAGE}\\n'); }).listen(80);` +
          "require('net').createServer((s) => s.end('220 mail\\n')).listen(25);",
      ],
      'internet-http.log',
    );
    server.stdout!.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString().matchAll(/^big ([\d.]+)$/gm)) net.bigSeconds.push(Number(m[1]));
      for (const m of chunk.toString().matchAll(/^from (?:::ffff:)?(\S+)$/gm)) net.sources.push(m[1]!);
    });
    if (options.capture) net.spawn('tcpdump', ['-i', options.taps[0]!.name, '-n', '-U', '-w', net.pcap], 'tcpdump.log');
    await sleep(1000);
    return net;
  }

  // Where the capture on the first tap is written.
  get pcap(): string {
    return join(this.dir, 'uplink.pcap');
  }

  // An internet for one router: one tap (address/24, a DHCP range, the router's fixed lease by its MAC), captured.
  static forRouter(options: {
    netns: string;
    dir: string;
    tap: string;
    address: string;
    range: [string, string];
    router: { mac: string; address: string };
  }): Promise<Internet> {
    const { netns, dir, tap, address, range, router } = options;
    return Internet.start({ netns, dir, taps: [{ name: tap, address, range, hosts: [router] }], capture: true });
  }

  // Packets the capture saw that match a tcpdump filter.
  captured(filter: string): number {
    return this.capturedLines(filter).length;
  }

  // The packets the capture saw that match a tcpdump filter, one line each with link-level headers.
  capturedLines(filter: string): string[] {
    const read = spawnSync('tcpdump', ['-n', '-e', '-r', this.pcap, filter], { encoding: 'utf8' });
    return read.stdout.split('\n').filter(Boolean);
  }

  // The addresses the HTTP server's requests came from, in order.
  requestsFrom(): string[] {
    return [...this.sources];
  }

  // Runs a command in the namespace and returns its output.
  run(command: string, args: string[]): { status: number; stdout: string; stderr: string } {
    const result = spawnSync('ip', ['netns', 'exec', this.netns, command, ...args], { encoding: 'utf8' });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  private spawn(command: string, args: string[], log: string): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.netns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout!.on('data', (c) => (text += c));
    child.stderr!.on('data', (c) => (text += c));
    child.on('exit', () => void writeFile(join(this.dir, log), text));
    this.children.push(child);
    return child;
  }

  async stop(): Promise<void> {
    for (const child of this.children) child.kill('SIGTERM');
    await sleep(500);
    spawnSync('ip', ['netns', 'del', this.netns]);
  }
}
