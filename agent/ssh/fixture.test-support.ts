// Test setup for the SSH server: a state folder, users with keys and sealed TOTP secrets, a movable clock, an ssh2
// client.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'otplib';
import ssh2 from 'ssh2';
import { encryptSecret } from '../auth/secrets.ts';
import type { AgentUser } from '../config.ts';
import { FakeControls, type FakeVmSeed } from '../fake-controls.test-support.ts';
import { opensshPrivateKey } from './hostkey.ts';
import { type SshServer, type SshServerOptions, startSshServer } from './server.ts';
import { parseKey } from './ssh2.ts';

// A client key pair: the private key text (also written 0600 to file) and its authorized_keys line.
export interface TestKey {
  file: string;
  privateKey: string;
  publicKey: string;
}

// Makes an ed25519 key pair in dir.
export async function makeKey(dir: string, name: string): Promise<TestKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const text = opensshPrivateKey(
    Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'),
    Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'),
    name,
  );
  const parsed = parseKey(text);
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error('test key does not parse');
  const file = join(dir, name);
  await writeFile(file, text, { mode: 0o600 });
  return { file, privateKey: text, publicKey: `ssh-ed25519 ${parsed.getPublicSSH().toString('base64')} ${name}` };
}

// The VMs the SSH tests see: all stopped but rescue, which runs so its console takes input; every console starts the
// same.
const SSH_VMS: FakeVmSeed[] = [
  { name: 'controller', role: 'controller', console: 'booting\nready\n' },
  { name: 'rescue', role: 'rescue', state: 'ready', console: 'booting\nready\n' },
  { name: 'web', role: 'application', console: 'booting\nready\n' },
];

// A running test server with its users, clock and recorded controls.
export interface Fixture {
  dir: string;
  stateDir: string;
  key: Buffer;
  alice: TestKey;
  stranger: TestKey;
  totpSecret: string;
  hotpSecret: string;
  users: AgentUser[];
  controls: FakeControls;
  server: SshServer;
  // The server's clock in ms; tests move it step by step so each login has a fresh code.
  clock: { now: number };
  // The TOTP code of alice at the clock (or `stepsAgo` steps earlier).
  code(stepsAgo?: number): Promise<string>;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

// Starts a server on 127.0.0.1:0 with alice (TOTP), henry (HOTP) and nocode (key only, no code).
export async function startFixture(options: Partial<SshServerOptions> = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-ssh-'));
  const stateDir = join(dir, 'state');
  const key = randomBytes(32);
  const alice = await makeKey(dir, 'alice_key');
  const stranger = await makeKey(dir, 'stranger_key');
  const totpSecret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
  const hotpSecret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  const users: AgentUser[] = [
    {
      name: 'alice',
      authorizedKeys: [alice.publicKey],
      otp: { type: 'totp', secret: encryptSecret(key, 'alice', totpSecret) },
    },
    {
      name: 'henry',
      authorizedKeys: [alice.publicKey],
      otp: { type: 'hotp', secret: encryptSecret(key, 'henry', hotpSecret) },
    },
    { name: 'nocode', authorizedKeys: [alice.publicKey] },
  ];
  const clock = { now: 1_700_000_000_000 };
  const controls = new FakeControls(SSH_VMS);
  const start = () =>
    startSshServer({
      listen: '127.0.0.1:0',
      stateDir,
      users,
      secretKey: key,
      controls,
      now: () => clock.now,
      ...options,
    });
  const fixture: Fixture = {
    dir,
    stateDir,
    key,
    alice,
    stranger,
    totpSecret,
    hotpSecret,
    users,
    controls,
    clock,
    server: await start(),
    code: (stepsAgo = 0) => generate({ secret: totpSecret, epoch: Math.floor(clock.now / 1000) - stepsAgo * 30 }),
    restart: async () => {
      await fixture.server.close();
      fixture.server = await start();
    },
    cleanup: async () => {
      await fixture.server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

// How an ssh2 client logs in: which key (none for no key) and which answer to the code prompt.
export interface Login {
  username?: string;
  key?: string;
  code?: string;
  agentForward?: boolean;
  // The client's own address (127.0.0.2, 127.0.0.3… stand for other hosts in tests).
  localAddress?: string;
}

// Connects with ssh2; resolves with the client when logged in, rejects with the client's error otherwise.
export function connect(port: number, login: Login): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  const username = login.username ?? 'alice';
  const methods: ssh2.AnyAuthMethod[] = [];
  if (login.key) methods.push({ type: 'publickey', username, key: login.key });
  methods.push({
    type: 'keyboard-interactive',
    username,
    prompt: (_n, _i, _l, prompts, finish) => finish(prompts.map(() => login.code ?? '000000')),
  });
  return new Promise((resolve, reject) => {
    client.on('ready', () => resolve(client));
    client.on('error', reject);
    client.on('close', () => reject(new Error('closed before login')));
    client.connect({
      host: '127.0.0.1',
      port,
      username,
      authHandler: methods,
      readyTimeout: 10_000,
      ...(login.localAddress ? { localAddress: login.localAddress } : {}),
      agentForward: login.agentForward,
      ...(login.agentForward ? { agent: process.env.SSH_AUTH_SOCK ?? '/nonexistent' } : {}),
    });
  });
}

// What one exec printed, and its exit status (undefined when the channel closed without one).
export interface ExecResult {
  code?: number;
  stdout: string;
  stderr: string;
}

// Runs one exec request and collects its output; `stdin` is sent and then closed.
export function run(
  client: ssh2.Client,
  command: string,
  options: ssh2.ExecOptions = {},
  stdin?: Buffer,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, options, (error, stream) => {
      if (error) return reject(error);
      if (stdin) stream.end(stdin);
      let stdout = '';
      let stderr = '';
      let code: number | undefined;
      stream.on('data', (d: Buffer) => (stdout += d));
      stream.stderr.on('data', (d: Buffer) => (stderr += d));
      stream.on('exit', (c: number) => (code = c));
      stream.on('close', () => resolve({ code, stdout, stderr }));
    });
  });
}
