// Proves the VPN lab works without QEMU: a namespace stands in for the router on the uplink and runs real WireGuard and
// OpenVPN clients from the lab's configs. Run as root: `node --import tsx qa/lib/vpn-lab.check.ts`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ip } from './internet.ts';
import {
  OPENVPN_PORT,
  ROUTER_UPLINK,
  SECRET_NAME,
  UPLINK_GATEWAY,
  VPN_DNS,
  VPN_PAGE,
  VPN_SERVER,
  VPN_SERVER_NAME,
  VpnLab,
  WEB_PLAIN,
  WEB_VPN,
  WIREGUARD_CLIENT,
  WIREGUARD_PORT,
} from './vpn-lab.ts';

const PREFIX = 'mvq-v';
const ROUTER_MAC = '02:00:00:00:00:02';
let failures = 0;

function report(name: string, ok: boolean, detail = ''): void {
  if (!ok) failures++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`);
}

// Runs a command in the router's stand-in namespace.
function inRouter(command: string, args: string[]): { status: number; out: string } {
  const result = spawnSync('ip', ['netns', 'exec', `${PREFIX}t`, command, ...args], { encoding: 'utf8' });
  return { status: result.status ?? -1, out: `${result.stdout}${result.stderr}` };
}

function fetch(url: string): string {
  const result = inRouter('curl', ['-s', '--max-time', '4', url]);
  return result.status === 0 ? result.out.trim() : `curl exit ${result.status}`;
}

// Retries `attempt` until it returns true; returns the seconds it took, or -1.
async function until(attempt: () => boolean, seconds: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < seconds * 1000) {
    if (attempt()) return (Date.now() - start) / 1000;
    await sleep(500);
  }
  return -1;
}

// The address busybox nslookup got for `name` from `server`, or its output.
function resolve(name: string, server: string): string {
  const result = inRouter('busybox', ['nslookup', name, server]);
  const answers = result.out.split(/\n\n/).slice(1).join('\n');
  return /Address:\s*(\S+)/.exec(answers)?.[1] ?? result.out.trim();
}

function startInRouter(command: string, args: string[], log: string, env: Record<string, string> = {}): ChildProcess {
  const fd = openSync(log, 'a');
  const child = spawn('ip', ['netns', 'exec', `${PREFIX}t`, command, ...args], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...env },
  });
  closeSync(fd);
  return child;
}

async function end(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
}

const lastRequest = (lab: VpnLab) => lab.requests().at(-1);
const completions = (log: string) => readFileSync(log, 'utf8').split('Initialization Sequence Completed').length - 1;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mvq-vpn-lab-'));
  let lab: VpnLab | undefined;
  let wgClient: ChildProcess | undefined;
  let ovpnClient: ChildProcess | undefined;
  try {
    lab = await VpnLab.start({
      dir,
      prefix: PREFIX,
      clientVeth: true,
      hosts: [{ mac: ROUTER_MAC, address: ROUTER_UPLINK }],
    });
    report('lab started', true, dir);

    // The uplink: DHCP's fixed lease, the ISP's DNS, the plain web address without NAT.
    ip(['link', 'set', 'uplink', 'address', ROUTER_MAC], `${PREFIX}t`);
    const dhcp = inRouter('busybox', ['udhcpc', '-i', 'uplink', '-n', '-q', '-f', '-t', '5', '-s', '/bin/true']);
    report(
      'DHCP fixed lease',
      dhcp.out.includes(`lease of ${ROUTER_UPLINK} obtained`),
      dhcp.out.trim().split('\n').at(-1),
    );
    ip(['addr', 'add', `${ROUTER_UPLINK}/24`, 'dev', 'uplink'], `${PREFIX}t`);
    ip(['route', 'add', 'default', 'via', UPLINK_GATEWAY], `${PREFIX}t`);
    report(`ISP DNS ${VPN_SERVER_NAME}`, resolve(VPN_SERVER_NAME, UPLINK_GATEWAY) === VPN_SERVER);
    report('ISP DNS logged the query', lab.uplinkDnsQueries().includes(VPN_SERVER_NAME));
    const plain = fetch(`http://${WEB_PLAIN}/ip`);
    report('plain web address sees the router itself', plain === ROUTER_UPLINK, plain);

    // (1) WireGuard client from the wg-quick config.
    const conf = lab.wireguardClientConf();
    report('hostname endpoint form', lab.wireguardClientConf({ hostnameEndpoint: true }).includes(VPN_SERVER_NAME));
    const setconf = join(dir, 'wg-client.conf');
    writeFileSync(setconf, conf.replace(/^(Address|DNS) = .*\n/gm, ''), { mode: 0o600 });
    wgClient = startInRouter('wireguard-go', ['wgt0'], join(dir, 'wireguard-client.log'), {
      WG_PROCESS_FOREGROUND: '1',
    });
    await until(() => inRouter('wg', ['show', 'wgt0']).status === 0, 5);
    const set = inRouter('wg', ['setconf', 'wgt0', setconf]);
    report('wg setconf', set.status === 0, set.out.trim());
    ip(['addr', 'add', `${WIREGUARD_CLIENT}/32`, 'dev', 'wgt0'], `${PREFIX}t`);
    ip(['link', 'set', 'wgt0', 'up'], `${PREFIX}t`);
    ip(['route', 'add', `${WEB_VPN}/32`, 'dev', 'wgt0'], `${PREFIX}t`);
    ip(['route', 'add', `${VPN_DNS}/32`, 'dev', 'wgt0'], `${PREFIX}t`);
    const page = fetch(`http://${WEB_VPN}/`);
    report('WireGuard: page through the tunnel', page === VPN_PAGE, page);
    const seen = lastRequest(lab);
    report('WireGuard: server saw the VPN server', seen?.from === VPN_SERVER && seen.url === '/', JSON.stringify(seen));
    report('WireGuard: server handshake', lab.wireguardLatestHandshake() > 0);
    report(`WireGuard: VPN DNS ${SECRET_NAME}`, resolve(SECRET_NAME, VPN_DNS) === WEB_VPN);
    report('WireGuard: query reached the VPN DNS', lab.vpnDnsQueries().includes(SECRET_NAME));
    report('WireGuard: query never on the uplink DNS', !lab.uplinkDnsQueries().includes(SECRET_NAME));
    const wgPackets = lab.captured(`udp port ${WIREGUARD_PORT}`);
    report(
      'capture: WireGuard packets on the uplink',
      wgPackets.length > 0,
      `${wgPackets.length}, e.g. ${wgPackets[0]}`,
    );
    report('capture: nothing in clear to the VPN web address', lab.captured(`host ${WEB_VPN}`).length === 0);
    report('capture: the plain fetch is there', lab.captured(`host ${WEB_PLAIN} and tcp port 80`).length > 0);

    // (3) The WireGuard server restarts; the client's next handshake brings the tunnel back.
    await lab.stopWireguard();
    report('WireGuard server down: no page', fetch(`http://${WEB_VPN}/`) !== VPN_PAGE);
    await lab.startWireguard();
    const back = await until(() => fetch(`http://${WEB_VPN}/`) === VPN_PAGE, 40);
    report('WireGuard server restarted: page again', back >= 0, `after ${back} s`);
    report('WireGuard server restarted: seen from the VPN server', lastRequest(lab)?.from === VPN_SERVER);
    await end(wgClient);
    wgClient = undefined;

    // (2) OpenVPN client, routes kept to ourselves.
    const ovpnConf = lab.openvpnClientConf();
    const directives = ovpnConf.replace(/<(\w+)>[\s\S]*?<\/\1>/g, '');
    const risky = /^(up|down|script-security|route-up|ipchange|ca|cert|key|auth-user-pass|config) |\//m;
    report('OpenVPN conf has no scripts or paths', !risky.test(directives), directives.replace(/\n/g, '; '));
    const ovpnFile = join(dir, 'client.ovpn');
    const ovpnLog = join(dir, 'openvpn-client.log');
    writeFileSync(ovpnFile, ovpnConf, { mode: 0o600 });
    writeFileSync(ovpnLog, '');
    const ovpnArgs = ['--config', ovpnFile, '--dev', 'tun-t', '--route-noexec', '--pull-filter', 'ignore'];
    ovpnClient = startInRouter('openvpn', [...ovpnArgs, 'redirect-gateway'], ovpnLog);
    const up = await until(() => completions(ovpnLog) === 1, 20);
    report('OpenVPN: tunnel up', up >= 0, `after ${up} s`);
    ip(['route', 'replace', `${WEB_VPN}/32`, 'dev', 'tun-t'], `${PREFIX}t`);
    ip(['route', 'replace', `${VPN_DNS}/32`, 'dev', 'tun-t'], `${PREFIX}t`);
    const ovpnPage = fetch(`http://${WEB_VPN}/ip`);
    report(
      'OpenVPN: server saw the VPN server',
      ovpnPage === VPN_SERVER && lastRequest(lab)?.from === VPN_SERVER,
      ovpnPage,
    );
    const queries = lab.vpnDnsQueries().length;
    report('OpenVPN: VPN DNS through the tunnel', resolve(SECRET_NAME, VPN_DNS) === WEB_VPN);
    report('OpenVPN: query reached the VPN DNS', lab.vpnDnsQueries().length > queries);
    report('OpenVPN: pushed DNS', readFileSync(ovpnLog, 'utf8').includes(`dhcp-option DNS ${VPN_DNS}`));
    report('capture: OpenVPN packets on the uplink', lab.captured(`udp port ${OPENVPN_PORT}`).length > 0);

    // The OpenVPN server restarts; the client's ping-restart (10 s, pushed) reconnects it.
    await lab.stopOpenvpn();
    await lab.startOpenvpn();
    const again = await until(() => completions(ovpnLog) === 2, 40);
    report('OpenVPN server restarted: client reconnected', again >= 0, `after ${again} s`);
    // Without persist-tun the client made its tun anew, and our routes went with the old one.
    ip(['route', 'replace', `${WEB_VPN}/32`, 'dev', 'tun-t'], `${PREFIX}t`);
    report('OpenVPN server restarted: page again', fetch(`http://${WEB_VPN}/`) === VPN_PAGE);
    report('capture: still nothing in clear to the VPN web address', lab.captured(`host ${WEB_VPN}`).length === 0);
  } catch (error) {
    report('no exception', false, error instanceof Error ? error.message : String(error));
  } finally {
    await end(wgClient);
    await end(ovpnClient);
    await lab?.stop();
    await lab?.stop();
  }

  // (4) Nothing of the lab is left.
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((line) => [`${PREFIX}c`, `${PREFIX}s`, `${PREFIX}t`].includes(line.split(' ')[0]!));
  report('cleanup: namespaces gone', left.length === 0, left.join(', '));
  const sockets = spawnSync('ls', ['/var/run/wireguard'], { encoding: 'utf8' }).stdout.trim();
  report('cleanup: no wireguard-go control sockets left', !/wgs0|wgt0/.test(sockets), sockets);
  if (failures === 0) rmSync(dir, { recursive: true });
  else console.log(`logs in ${dir}`);
  console.log(failures === 0 ? 'PASS vpn-lab' : `FAIL vpn-lab: ${failures} failed`);
  process.exitCode = failures === 0 ? 0 : 1;
}

await main();
