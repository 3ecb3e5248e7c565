// The Tor host of scenario 024 and the onion bench: the test's "internet" in a namespace (a tap the router's uplink
// sits on, a web server, a private Tor network), the host of qa/cases/024-tor/host-tor.yaml run by a real agent on this
// machine (router, Tor gateway and a VM on its Tor network), and the owner: a login (SSH key, password, HOTP codes) and
// the ways the owner's machine reaches the host through its onion address.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate, generateSecret } from 'otplib';
import { encryptSecret } from '../../agent/auth/secrets.ts';
import { unpackInitramfs } from '../../builder/archive/unpack.ts';
import { derivedMac } from '../../builder/pipeline/network-plan.ts';
import type { OnionView } from '../../common/api-types.ts';
import { hashPassword } from '../../common/secrets/password.ts';
import { AgentRun, apiCall, killVms, type ScenarioConfig } from './agent-run.ts';
import { ARTIFACTS } from './boot.ts';
import { buildHostImage, repoRoot } from './host-image.ts';
import { Internet } from './internet.ts';
import { TorLab } from './tor-lab.ts';

const BOOT_MS = 240_000;
// The internet's server, and the router's fixed address on the uplink.
export const INTERNET = '203.0.113.1';
const ROUTER_UPLINK = '203.0.113.2';
// The VMs the host runs (the controller and rescue are left out: not what these tests look at).
export const TOR_HOST_VMS = ['router', 'torgw', 'anon', 'anon2'];
export const ROUTER_MAC = derivedMac('uplink/router');

// The result of one command on the owner's side.
export interface OwnerRun {
  status: number;
  out: string;
  err: string;
  ms: number;
}

// A running Tor host and its owner; stop() ends it all.
export class TorHost {
  // HOTP: a code is used up only by a login that got through (an attempt that never reached the agent tries it again).
  private counter = 0;

  private constructor(
    readonly dir: string,
    readonly netns: string,
    readonly internet: Internet,
    readonly lab: TorLab,
    readonly run: AgentRun,
    private readonly owner: { password: string; otpSecret: string; key: string; askpass: string },
  ) {}

  // Makes the internet (namespace `netns`, tap `tap`) and the Tor network, builds and starts the host, and waits until
  // its VMs are ready. `dir` (emptied first) keeps every log.
  static async start(options: { dir: string; netns: string; tap: string }): Promise<TorHost> {
    const { dir, netns, tap } = options;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const internet = await Internet.forRouter({
      netns,
      dir,
      tap,
      address: INTERNET,
      range: ['203.0.113.20', '203.0.113.30'],
      router: { mac: ROUTER_MAC, address: ROUTER_UPLINK },
    });
    let lab: TorLab | undefined;
    let run: AgentRun | undefined;
    try {
      lab = await TorLab.start({ dir: join(dir, 'tor'), netns, nameserver: INTERNET });
      const image = buildHostImage('qa/cases/024-tor/host-tor.yaml');
      const root = await unpackInitramfs(image.initrd, join(ARTIFACTS, 'host-roots'));
      const config = JSON.parse(await readFile(join(root, 'etc/mvos/host.json'), 'utf8')) as ScenarioConfig;
      config.vms = config.vms.filter((vm) => TOR_HOST_VMS.includes(vm.name));
      const nets = config.networks as {
        routers: Array<{ vm: string; uplink: { tap?: { name: string; netns?: string } } }>;
        networks: Array<{ name: string; tor?: { testingAuthorities?: string[] } }>;
      };
      nets.routers.find((r) => r.vm === 'router')!.uplink.tap = { name: tap, netns };
      // The private Tor network instead of the real one.
      nets.networks.find((n) => n.name === 'onion')!.tor!.testingAuthorities = lab
        .dirAuthorityLines()
        .map((line) => line.replace(/^DirAuthority /, ''));
      const owner = {
        password: `pw-${randomBytes(6).toString('hex')}`,
        otpSecret: generateSecret(),
        key: join(dir, 'owner-key'),
        askpass: join(dir, 'askpass'),
      };
      config.agent = await ownerLogin(dir, owner);
      run = await AgentRun.start({ root, config, dir });
      await run.waitForReady(TOR_HOST_VMS, BOOT_MS);
      return new TorHost(dir, netns, internet, lab, run, owner);
    } catch (error) {
      await run?.kill('SIGKILL');
      await killVms(join(dir, 'state'), TOR_HOST_VMS);
      await lab?.stop();
      await internet.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.run.kill('SIGKILL');
    await killVms(join(this.dir, 'state'), TOR_HOST_VMS);
    await this.lab.stop();
    await this.internet.stop();
  }

  private code(): Promise<string> {
    return generate({ secret: this.owner.otpSecret, strategy: 'hotp', counter: this.counter });
  }

  async onionView(): Promise<OnionView> {
    return (await apiCall(this.run, 'GET', '/api/onion')).json as OnionView;
  }

  // Enrols a client with `mvos onion client add` on the agent's socket; its private key goes into `authDir`.
  enrol(name: string, authDir: string): { status: number; out: string } {
    return this.onSocket(['onion', 'client', 'add', name, '--auth-dir', authDir]);
  }

  // Revokes a client with `mvos onion client remove`.
  revoke(name: string): { status: number; out: string } {
    return this.onSocket(['onion', 'client', 'remove', name]);
  }

  // `mvos ARGS --socket` on this machine, as root on the agent's socket.
  private onSocket(args: string[]): { status: number; out: string } {
    const result = spawnSync(join(repoRoot, 'mvos'), [...args, '--socket', this.socket], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { status: result.status ?? -1, out: `${result.stdout}${result.stderr}` };
  }

  private get socket(): string {
    return join(this.run.dir, 'run', 'agent.sock');
  }

  // `mvos ARGS --tor 127.0.0.1:SOCKS --user owner` on the owner's side (the internet's namespace), with the password
  // and a code.
  async mvos(args: string[], socks: number): Promise<OwnerRun> {
    const code = await this.code();
    const started = Date.now();
    const result = spawnSync(
      'ip',
      ['netns', 'exec', this.netns, join(repoRoot, 'mvos'), ...args, '--tor', `127.0.0.1:${socks}`, '--user', 'owner'],
      {
        encoding: 'utf8',
        timeout: 240_000,
        env: { ...process.env, MVOS_PASSWORD: this.owner.password, MVOS_OTP: code },
      },
    );
    if (result.status === 0) this.counter++;
    return { status: result.status ?? -1, out: result.stdout, err: result.stderr, ms: Date.now() - started };
  }

  // The jail's `status` over SSH: through the onion address with the documented ProxyCommand (SOCKS port `socks` on
  // the owner's side), or straight to the agent's TCP listener on this machine (`socks` undefined: the baseline).
  async sshStatus(socks?: number): Promise<OwnerRun> {
    const code = await this.code();
    const direct = (await this.run.status()).ssh?.listen;
    const target = socks
      ? [
          '-o',
          `ProxyCommand=socat - SOCKS4A:127.0.0.1:%h:%p,socksport=${socks}`,
          `owner@${(await this.onionView()).address}`,
        ]
      : ['-p', direct!.split(':')[1]!, `owner@${direct!.split(':')[0]}`];
    const started = Date.now();
    const result = spawnSync(
      socks ? 'ip' : 'ssh',
      [
        ...(socks ? ['netns', 'exec', this.netns, 'ssh'] : []),
        '-F',
        '/dev/null',
        '-i',
        this.owner.key,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        `UserKnownHostsFile=${join(this.dir, 'known_hosts')}`,
        '-o',
        'StrictHostKeyChecking=accept-new',
        '-o',
        'ConnectTimeout=120',
        ...target,
        'status',
      ],
      {
        encoding: 'utf8',
        timeout: 240_000,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: this.dir,
          SSH_ASKPASS: this.owner.askpass,
          SSH_ASKPASS_REQUIRE: 'force',
          DISPLAY: ':0',
          MVOS_TEST_CODE: code,
        },
      },
    );
    if (result.status === 0) this.counter++;
    return { status: result.status ?? -1, out: result.stdout, err: result.stderr, ms: Date.now() - started };
  }
}

// The host's users: the owner alone, with an SSH key, a password and HOTP; the SSH jail on loopback (the baseline).
async function ownerLogin(
  dir: string,
  owner: { password: string; otpSecret: string; key: string; askpass: string },
): Promise<ScenarioConfig['agent']> {
  const keyFile = join(dir, 'secret.key');
  const key = randomBytes(32);
  await writeFile(keyFile, key, { mode: 0o600 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', owner.key]);
  await writeFile(owner.askpass, '#!/bin/sh\necho "$MVOS_TEST_CODE"\n', { mode: 0o700 });
  return {
    sshListen: '127.0.0.1:0',
    users: [
      {
        name: 'owner',
        passwordHash: await hashPassword(owner.password),
        authorizedKeys: [(await readFile(`${owner.key}.pub`, 'utf8')).trim()],
        otp: { type: 'hotp', secret: encryptSecret(key, 'owner', owner.otpSecret) },
      },
    ],
    secretKeyFile: keyFile,
  };
}
