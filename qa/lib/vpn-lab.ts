// A VPN lab for testing a router that holds a tunnel with a kill switch: an "ISP" namespace (the router's uplink tap,
// DHCP and DNS, a web server standing in for the internet, a capture of the uplink) and a "VPN server" namespace
// (WireGuard on wireguard-go, OpenVPN, the VPN's own DNS, masquerade of tunnel traffic), all on documentation addresses;
// made and removed by the test, nothing outside its namespaces touched.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeSelfSigned } from '../../common/self-signed.test-support.ts';
import { endChild } from './child-process.ts';
import { ip, TEST_DNSMASQ } from './internet.ts';

// The VPN server's address on the ISP side: WireGuard and OpenVPN endpoint, and the source the web server sees for
// tunnelled traffic (it is masqueraded).
export const VPN_SERVER = '198.51.100.2';
// The ISP side of the link to the VPN server.
export const VPN_SERVER_GATEWAY = '198.51.100.1';
// The web server that only the tunnel should reach.
export const WEB_VPN = '203.0.113.80';
// The same web server on a second address, for a VM without the VPN.
export const WEB_PLAIN = '203.0.113.81';
// The VPN's DNS server, reachable only through the tunnel.
export const VPN_DNS = '198.51.100.53';
// WireGuard's UDP port on the VPN server.
export const WIREGUARD_PORT = 51820;
// OpenVPN's UDP port on the VPN server.
export const OPENVPN_PORT = 1194;
// The ISP's gateway, DHCP and DNS server on the uplink.
export const UPLINK_GATEWAY = '192.0.2.1';
// The address the router's uplink should lease (give its MAC in `hosts`).
export const ROUTER_UPLINK = '192.0.2.2';
// The router's address inside the WireGuard tunnel.
export const WIREGUARD_CLIENT = '198.51.100.130';
// The VPN server's address inside the WireGuard tunnel.
export const WIREGUARD_SERVER = '198.51.100.129';
// The OpenVPN server's address in its tunnel subnet (198.51.100.192/27; clients get addresses from .194 on).
export const OPENVPN_SERVER = '198.51.100.193';
// The name the ISP's DNS resolves to the VPN server.
export const VPN_SERVER_NAME = 'vpn.example.test';
// The name only the VPN's DNS resolves (to the web server).
export const SECRET_NAME = 'secret.example.test';
// What GET / answers.
export const VPN_PAGE = 'MVOS-VPN-PAGE';

// Tunnel sources the VPN server masquerades: WireGuard's /25 holds OpenVPN's /27.
const TUNNEL_NET = '198.51.100.128/25';
const WIREGUARD_IFACE = 'wgs0';
const OPENVPN_IFACE = 'ovs0';
const DATA_CIPHERS = 'AES-256-GCM:CHACHA20-POLY1305';

// How the lab is made.
export interface VpnLabOptions {
  // Where keys, configs, logs and the capture go (must exist).
  dir: string;
  // Namespaces are `${prefix}c` (ISP), `${prefix}s` (VPN server) and, with clientVeth, `${prefix}t`.
  prefix?: string;
  // The uplink's name in the ISP namespace (a tap for QEMU, or the ISP end of the veth).
  tap?: string;
  // Fixed DHCP leases on the uplink, by MAC.
  hosts?: Array<{ mac: string; address: string }>;
  // Make the uplink a veth whose other end, `uplink`, sits in a namespace `${prefix}t` that stands in for the router.
  clientVeth?: boolean;
}

// Runs a command in a namespace (stdin from `input`) and returns its stdout; throws with its stderr.
function inNetns(netns: string, command: string, args: string[], input?: string): string {
  const result = spawnSync('ip', ['netns', 'exec', netns, command, ...args], { encoding: 'utf8', input });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} in ${netns}: ${result.stderr || result.error?.message}`);
  }
  return result.stdout;
}

// Runs a local command and returns its stdout; throws with its stderr.
function run(command: string, args: string[], input?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', input });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

// Polls until `ready` holds; throws naming `what` after `timeoutMs`, or early when `child` has exited.
async function waitFor(what: string, ready: () => boolean, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (child && child.exitCode !== null) throw new Error(`${what}: the process exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

// A self-signed EC certificate and key in PEM, with its SHA-256 fingerprint as OpenVPN's peer-fingerprint wants it.
function selfSigned(dir: string, name: string): { cert: string; key: string; fingerprint: string } {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  writeSelfSigned({ key: keyPath, cert: certPath }, `/CN=${name}.example.test`, `DNS:${name}.example.test`, 3650);
  const line = run('openssl', ['x509', '-in', certPath, '-noout', '-fingerprint', '-sha256']);
  const fingerprint = line.trim().split('=')[1];
  if (!fingerprint) throw new Error(`no fingerprint in "${line}"`);
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), fingerprint };
}

// Names dnsmasq logged queries for, in order.
function queriedNames(log: string): string[] {
  if (!existsSync(log)) return [];
  return [...readFileSync(log, 'utf8').matchAll(/ query\[\w+\] (\S+) from /g)].map((m) => m[1]!);
}

// A running VPN lab; stop() ends its programs and removes its namespaces.
export class VpnLab {
  private readonly children = new Map<string, ChildProcess>();
  private wireguardKeys = { server: '', serverPublic: '', client: '', clientPublic: '' };
  private openvpnCerts = { serverFingerprint: '', clientCert: '', clientKey: '' };

  private constructor(
    readonly dir: string,
    // The ISP namespace, holding the uplink.
    readonly clientNetns: string,
    // The VPN server's namespace.
    readonly serverNetns: string,
    // The router's stand-in namespace with clientVeth, else undefined.
    readonly routerNetns: string | undefined,
    // The uplink's name in the ISP namespace.
    readonly uplink: string,
  ) {}

  // Makes both namespaces with their programs; the capture of the uplink runs before start() returns.
  static async start(options: VpnLabOptions): Promise<VpnLab> {
    const prefix = options.prefix ?? 'mvq-v';
    const lab = new VpnLab(
      options.dir,
      `${prefix}c`,
      `${prefix}s`,
      options.clientVeth ? `${prefix}t` : undefined,
      options.tap ?? 'mvvpn0',
    );
    // An earlier run that crashed may have left its namespaces, and programs in them.
    lab.removeNamespaces([`${prefix}c`, `${prefix}s`, `${prefix}t`]);
    try {
      await lab.step('namespaces and links', () => lab.makeLinks());
      await lab.step('capture on the uplink', () => lab.startCapture());
      await lab.step('ISP dnsmasq', () => lab.startUplinkDnsmasq(options.hosts ?? []));
      await lab.step('web server', () => lab.startWebServer());
      await lab.step('VPN server firewall', () => lab.masquerade());
      await lab.step('VPN dnsmasq', () => lab.startVpnDnsmasq());
      await lab.step('WireGuard keys', () => lab.makeWireguardKeys());
      await lab.step('WireGuard server', () => lab.startWireguard());
      await lab.step('OpenVPN certificates', () => lab.makeOpenvpnCerts());
      await lab.step('OpenVPN server', () => lab.startOpenvpn());
    } catch (error) {
      await lab.stop();
      throw error;
    }
    return lab;
  }

  // Where the capture of the uplink is written.
  get pcap(): string {
    return join(this.dir, 'uplink.pcap');
  }

  // Packet lines (`tcpdump -n -e`) of the uplink capture that match a tcpdump filter, up to now.
  captured(filter: string): string[] {
    // tcpdump runs in immediate mode and writes each packet (-U); this lets packets still in flight land.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    const read = spawnSync('tcpdump', ['-n', '-e', '-r', this.pcap, filter], { encoding: 'utf8' });
    if (read.status !== 0) throw new Error(`tcpdump -r ${this.pcap} ${filter}: ${read.stderr}`);
    return read.stdout.split('\n').filter(Boolean);
  }

  // Every request the web server got, in order: the peer's address and the URL.
  requests(): Array<{ from: string; url: string }> {
    const log = join(this.dir, 'web-requests.log');
    if (!existsSync(log)) return [];
    return readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [from = '', url = ''] = line.split(' ');
        return { from, url };
      });
  }

  // Names the VPN's DNS was asked for.
  vpnDnsQueries(): string[] {
    return queriedNames(join(this.dir, 'vpn-dnsmasq.log'));
  }

  // Names the ISP's DNS on the uplink was asked for.
  uplinkDnsQueries(): string[] {
    return queriedNames(join(this.dir, 'uplink-dnsmasq.log'));
  }

  // The client's WireGuard config in wg-quick form (Address and DNS are wg-quick's, not `wg setconf`'s).
  wireguardClientConf(options: { hostnameEndpoint?: boolean } = {}): string {
    const endpoint = options.hostnameEndpoint ? VPN_SERVER_NAME : VPN_SERVER;
    return [
      '[Interface]',
      `PrivateKey = ${this.wireguardKeys.client}`,
      `Address = ${WIREGUARD_CLIENT}/32`,
      `DNS = ${VPN_DNS}`,
      '',
      '[Peer]',
      `PublicKey = ${this.wireguardKeys.serverPublic}`,
      'AllowedIPs = 0.0.0.0/0',
      `Endpoint = ${endpoint}:${WIREGUARD_PORT}`,
      'PersistentKeepalive = 5',
      '',
    ].join('\n');
  }

  // The client's OpenVPN config: everything inline, no scripts and no file paths.
  openvpnClientConf(): string {
    return [
      'client',
      'dev tun',
      'proto udp',
      `remote ${VPN_SERVER} ${OPENVPN_PORT}`,
      'nobind',
      `peer-fingerprint ${this.openvpnCerts.serverFingerprint}`,
      `data-ciphers ${DATA_CIPHERS}`,
      'verb 3',
      '<cert>',
      this.openvpnCerts.clientCert.trim(),
      '</cert>',
      '<key>',
      this.openvpnCerts.clientKey.trim(),
      '</key>',
      '',
    ].join('\n');
  }

  // Unix seconds of the WireGuard server's latest handshake with the client; 0 for none (or no server running).
  wireguardLatestHandshake(): number {
    const result = spawnSync(
      'ip',
      ['netns', 'exec', this.serverNetns, 'wg', 'show', WIREGUARD_IFACE, 'latest-handshakes'],
      { encoding: 'utf8' },
    );
    return Number(result.stdout.trim().split(/\s+/)[1] ?? 0) || 0;
  }

  // Starts the WireGuard server (again after stopWireguard(), with the same keys and peer).
  async startWireguard(): Promise<void> {
    // The foreground variable keeps wireguard-go from forking, so this process is the one that holds the interface.
    const child = this.spawn('wireguard', this.serverNetns, 'wireguard-go', [WIREGUARD_IFACE], 'wireguard-server.log', {
      WG_PROCESS_FOREGROUND: '1',
    });
    const wg = (args: string[]) => inNetns(this.serverNetns, 'wg', args);
    // `wg` answers once wireguard-go listens on its control socket (in /var/run/wireguard, shared by all namespaces).
    const ready = () => {
      try {
        return this.hasLink(this.serverNetns, WIREGUARD_IFACE) && wg(['show', WIREGUARD_IFACE, 'listen-port']) !== '';
      } catch {
        return false;
      }
    };
    await waitFor(`${WIREGUARD_IFACE} up in wireguard-go`, ready, 5000, child);
    wg([
      'set',
      WIREGUARD_IFACE,
      'listen-port',
      String(WIREGUARD_PORT),
      'private-key',
      join(this.dir, 'wg-server.key'),
      'peer',
      this.wireguardKeys.clientPublic,
      'allowed-ips',
      `${WIREGUARD_CLIENT}/32`,
    ]);
    ip(['addr', 'add', `${WIREGUARD_SERVER}/25`, 'dev', WIREGUARD_IFACE], this.serverNetns);
    ip(['link', 'set', WIREGUARD_IFACE, 'up'], this.serverNetns);
  }

  // Stops the WireGuard server; its interface goes with the process.
  async stopWireguard(): Promise<void> {
    await this.kill('wireguard');
    await waitFor(`${WIREGUARD_IFACE} gone`, () => !this.hasLink(this.serverNetns, WIREGUARD_IFACE), 5000);
  }

  // Starts the OpenVPN server (again after stopOpenvpn(), with the same certificates).
  async startOpenvpn(): Promise<void> {
    const log = join(this.dir, 'openvpn-server.log');
    const from = existsSync(log) ? readFileSync(log, 'utf8').length : 0;
    const conf = join(this.dir, 'server.ovpn');
    const child = this.spawn('openvpn', this.serverNetns, 'openvpn', ['--config', conf], 'openvpn-server.log');
    await waitFor(
      `OpenVPN server up (${log})`,
      () => readFileSync(log, 'utf8').slice(from).includes('Initialization Sequence Completed'),
      10000,
      child,
    );
  }

  // Stops the OpenVPN server; its tun goes with the process.
  async stopOpenvpn(): Promise<void> {
    await this.kill('openvpn');
  }

  // Ends every program of the lab (and any other process in its namespaces) and removes the namespaces; safe to repeat.
  async stop(): Promise<void> {
    for (const name of [...this.children.keys()]) await this.kill(name);
    this.removeNamespaces([this.clientNetns, this.serverNetns, ...(this.routerNetns ? [this.routerNetns] : [])]);
  }

  private async step(name: string, action: () => void | Promise<void>): Promise<void> {
    try {
      await action();
    } catch (error) {
      throw new Error(`VPN lab start, ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private makeLinks(): void {
    const [c, s] = [this.clientNetns, this.serverNetns];
    for (const netns of [c, s]) {
      ip(['netns', 'add', netns]);
      ip(['link', 'set', 'lo', 'up'], netns);
      inNetns(netns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    }
    if (this.routerNetns) {
      ip(['netns', 'add', this.routerNetns]);
      ip(['link', 'set', 'lo', 'up'], this.routerNetns);
      ip(['link', 'add', this.uplink, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', this.routerNetns], c);
      ip(['link', 'set', 'uplink', 'up'], this.routerNetns);
    } else {
      ip(['tuntap', 'add', 'dev', this.uplink, 'mode', 'tap'], c);
    }
    // The ISP side speaks no IPv6 on the uplink: any IPv6 the capture sees there came from the router.
    inNetns(c, 'sysctl', ['-qw', `net.ipv6.conf.${this.uplink}.disable_ipv6=1`]);
    ip(['addr', 'add', `${UPLINK_GATEWAY}/24`, 'dev', this.uplink], c);
    ip(['link', 'set', this.uplink, 'up'], c);
    // Both ends get names from the prefix, so labs with different prefixes can coexist.
    const [cEnd, sEnd] = [`${c}-s`, `${s}-c`];
    ip(['link', 'add', cEnd, 'type', 'veth', 'peer', 'name', sEnd, 'netns', s], c);
    ip(['addr', 'add', `${VPN_SERVER_GATEWAY}/25`, 'dev', cEnd], c);
    ip(['link', 'set', cEnd, 'up'], c);
    ip(['addr', 'add', `${VPN_SERVER}/25`, 'dev', sEnd], s);
    ip(['link', 'set', sEnd, 'up'], s);
    ip(['route', 'add', 'default', 'via', VPN_SERVER_GATEWAY], s);
    // This kernel has no dummy interfaces; a /32 on lo serves the same.
    ip(['addr', 'add', `${WEB_VPN}/32`, 'dev', 'lo'], c);
    ip(['addr', 'add', `${WEB_PLAIN}/32`, 'dev', 'lo'], c);
    ip(['addr', 'add', `${VPN_DNS}/32`, 'dev', 'lo'], s);
  }

  private async startCapture(): Promise<void> {
    const log = join(this.dir, 'tcpdump.log');
    // Immediate mode, or libpcap holds packets up to a second before tcpdump sees them; -Z root, or Debian's tcpdump
    // opens the capture file as user tcpdump.
    const child = this.spawn(
      'tcpdump',
      this.clientNetns,
      'tcpdump',
      ['-i', this.uplink, '-n', '-U', '--immediate-mode', '-Z', 'root', '-w', this.pcap],
      'tcpdump.log',
    );
    await waitFor('tcpdump listening', () => readFileSync(log, 'utf8').includes('listening on'), 5000, child);
  }

  private async startUplinkDnsmasq(hosts: Array<{ mac: string; address: string }>): Promise<void> {
    const child = this.spawn(
      'uplink-dnsmasq',
      this.clientNetns,
      'dnsmasq',
      [
        ...TEST_DNSMASQ,
        `--interface=${this.uplink}`,
        '--dhcp-range=192.0.2.10,192.0.2.20,255.255.255.0,1h',
        ...hosts.map((h) => `--dhcp-host=${h.mac},${h.address}`),
        `--address=/${VPN_SERVER_NAME}/${VPN_SERVER}`,
        `--dhcp-leasefile=${join(this.dir, 'uplink.leases')}`,
        '--log-facility=-',
        '--log-dhcp',
        '--log-queries',
      ],
      'uplink-dnsmasq.log',
    );
    await this.waitForListener(this.clientNetns, 'udp', `${UPLINK_GATEWAY}:53`, child);
  }

  private async startVpnDnsmasq(): Promise<void> {
    const child = this.spawn(
      'vpn-dnsmasq',
      this.serverNetns,
      'dnsmasq',
      [
        ...TEST_DNSMASQ,
        `--listen-address=${VPN_DNS}`,
        `--address=/${SECRET_NAME}/${WEB_VPN}`,
        '--log-facility=-',
        '--log-queries',
      ],
      'vpn-dnsmasq.log',
    );
    await this.waitForListener(this.serverNetns, 'udp', `${VPN_DNS}:53`, child);
  }

  private async startWebServer(): Promise<void> {
    // Logged to a file before the answer goes out, so a test that reads requests() right after its fetch sees it.
    const script =
      `const log = ${JSON.stringify(join(this.dir, 'web-requests.log'))};` +
      "const fs = require('fs'); const handle = (q, s) => {" +
      "const from = q.socket.remoteAddress; fs.appendFileSync(log, from + ' ' + q.url + '\\n');" +
      `if (q.url === '/') s.end('${VPN_PAGE}\\n'); else if (q.url === '/ip') s.end(from + '\\n');` +
      "else { s.statusCode = 404; s.end('not found\\n'); } };" +
      `for (const a of ['${WEB_VPN}', '${WEB_PLAIN}']) require('http').createServer(handle).listen(80, a);`;
    const child = this.spawn('web', this.clientNetns, process.execPath, ['-e', script], 'web.log');
    await this.waitForListener(this.clientNetns, 'tcp', `${WEB_VPN}:80`, child);
    await this.waitForListener(this.clientNetns, 'tcp', `${WEB_PLAIN}:80`, child);
  }

  private masquerade(): void {
    const rules = [
      'table ip vpnlab {',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      `    ip saddr ${TUNNEL_NET} oifname "${this.serverNetns}-c" masquerade`,
      '  }',
      '}',
      '',
    ].join('\n');
    inNetns(this.serverNetns, 'nft', ['-f', '-'], rules);
  }

  private makeWireguardKeys(): void {
    const server = run('wg', ['genkey']).trim();
    const client = run('wg', ['genkey']).trim();
    this.wireguardKeys = {
      server,
      serverPublic: run('wg', ['pubkey'], server).trim(),
      client,
      clientPublic: run('wg', ['pubkey'], client).trim(),
    };
    writeFileSync(join(this.dir, 'wg-server.key'), `${server}\n`, { mode: 0o600 });
  }

  private makeOpenvpnCerts(): void {
    const server = selfSigned(this.dir, 'openvpn-server');
    const client = selfSigned(this.dir, 'openvpn-client');
    this.openvpnCerts = { serverFingerprint: server.fingerprint, clientCert: client.cert, clientKey: client.key };
    const conf = [
      `dev ${OPENVPN_IFACE}`,
      'dev-type tun',
      'proto udp4',
      `local ${VPN_SERVER}`,
      `port ${OPENVPN_PORT}`,
      'topology subnet',
      'server 198.51.100.192 255.255.255.224',
      // As a commercial VPN does: the client is told to send everything through the tunnel, and where DNS is.
      'push "redirect-gateway def1"',
      `push "dhcp-option DNS ${VPN_DNS}"`,
      'keepalive 2 10',
      'dh none',
      // The host kernel's DCO module, where there is one, is not what is under test.
      'disable-dco',
      `data-ciphers ${DATA_CIPHERS}`,
      `cert ${join(this.dir, 'openvpn-server.crt')}`,
      `key ${join(this.dir, 'openvpn-server.key')}`,
      '<peer-fingerprint>',
      client.fingerprint,
      '</peer-fingerprint>',
      'verb 3',
      '',
    ].join('\n');
    writeFileSync(join(this.dir, 'server.ovpn'), conf);
  }

  private async waitForListener(netns: string, proto: 'udp' | 'tcp', local: string, child: ChildProcess) {
    const listening = () => {
      const out = spawnSync('ip', ['netns', 'exec', netns, 'ss', '-Hln', `--${proto}`], { encoding: 'utf8' }).stdout;
      return out.split('\n').some((line) => line.split(/\s+/).includes(local));
    };
    await waitFor(`${proto} ${local} listening in ${netns}`, listening, 5000, child);
  }

  private hasLink(netns: string, name: string): boolean {
    return spawnSync('ip', ['-n', netns, 'link', 'show', name]).status === 0;
  }

  // Starts a program in a namespace, its output appended to a log file in dir (live, unlike a pipe read at exit).
  private spawn(
    name: string,
    netns: string,
    command: string,
    args: string[],
    log: string,
    env: Record<string, string> = {},
  ): ChildProcess {
    const fd = openSync(join(this.dir, log), 'a');
    const child = spawn('ip', ['netns', 'exec', netns, command, ...args], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    closeSync(fd);
    this.children.set(name, child);
    return child;
  }

  private async kill(name: string): Promise<void> {
    const child = this.children.get(name);
    this.children.delete(name);
    await endChild(child);
  }

  // Kills what still runs in the namespaces (so wireguard-go releases its control socket), then deletes them.
  private removeNamespaces(names: string[]): void {
    const existing = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const netns of names) {
      if (!existing.split('\n').some((line) => line.split(' ')[0] === netns)) continue;
      const pids = spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {}
      }
      spawnSync('ip', ['netns', 'del', netns]);
    }
  }
}
