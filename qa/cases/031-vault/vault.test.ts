// The host vault with the real agent, the image's controller and two microVMs from its guest: each VM asks for its
// secret with `mvos-vault get` over its own secrets channel and gets it, asks for the other's and gets nothing; locked,
// neither gets anything; at the controller's console a custodians' drill passes without unlocking, then two cards, then
// the passphrase unlock it (nothing typed is echoed); an application VM may not drill; fallen back to its rescue VM, the
// host runs a recovery drill at that console; and the state partition (a real ext4 disk here, loop mounted) copied while
// locked holds none of the stored values in its raw bytes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ApiAnswers } from '../../../common/api-types.ts';
import {
  AgentRun,
  apiCall,
  consoleShell,
  hostRoot,
  killVms,
  reportingSetUp,
  type ScenarioConfig,
} from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';

const BOOT_MS = 240_000;
const NAMES = ['controller', 'rescue', 'app', 'other'];
const DIR = join(ARTIFACTS, '031-vault');
const DISK = join(DIR, 'state.ext4');
const PASS = 'the host vault passphrase';
const SECRETS = {
  'app-db': { vm: 'app', secret: 'app-db-password-5a7e19c3' },
  'other-token': { vm: 'other', secret: 'other-api-token-0b44d2f8' },
  github: { secret: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ' },
};
let run: AgentRun | undefined;
let cards: string[] = [];

// The image's config plus two microVMs made from its controller's guest.
function vaultConfig(config: ScenarioConfig): ScenarioConfig {
  const controller = config.vms.find((vm) => vm.role === 'controller')!;
  const microvm = (name: string) => ({
    name,
    role: 'application',
    launch: 'novm',
    cpus: 1,
    memoryMiB: 128,
    kernel: controller.kernel,
    initrd: controller.initrd,
    disk: controller.disk,
    cmdline: controller.cmdline,
    firmware: { type: 'none' },
    health: { ...controller.health, deadlineSeconds: 60 },
    autostart: true,
    ephemeral: false,
    restart: { attempts: 0, backoffSeconds: 1 },
  });
  return { ...config, vms: [...config.vms, microvm('app'), microvm('other')] };
}

function sh(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  assert.is(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function api<K extends keyof ApiAnswers>(method: string, path: string, body?: unknown): Promise<ApiAnswers[K]> {
  const answer = await apiCall(run!, method, path, body);
  assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.json)}`);
  return answer.json as ApiAnswers[K];
}

// `mvos-vault get NAME` on a VM's console: its output and exit code. The secret itself is only hashed there, so no console
// log (they are on the state disk) ever holds it.
function askFrom(vm: string, name: string): Promise<{ out: string; rc: number }> {
  const command = `mkdir -p /tmp; mvos-vault get ${name} > /tmp/s; r=$?; sha256sum /tmp/s; rm /tmp/s; (exit $r)`;
  return consoleShell(run!.stateDir, vm, command, 60_000);
}

// Types lines on a VM's console one at a time, each after what came back since the last matched `expect`; returns it
// all.
function converse(vm: string, steps: Array<{ send: string; expect: RegExp }>, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(join(run!.stateDir, 'vms', vm, 'console.sock'));
    let all = '';
    let since = '';
    let step = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${steps[step]?.expect} on ${vm}'s console within ${timeoutMs} ms; got:\n${all}`));
    }, timeoutMs);
    const next = (): void => {
      if (step === steps.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(all);
        return;
      }
      since = '';
      socket.write(`${steps[step]!.send}\n`);
    };
    socket.on('connect', next);
    socket.on('data', (chunk) => {
      all += chunk.toString('utf8');
      since += chunk.toString('utf8');
      if (step < steps.length && steps[step]!.expect.test(since)) {
        step += 1;
        next();
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

// How a secret shows on a console: its hash.
function shown(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

test.before(
  reportingSetUp(async () => {
    const host = await hostRoot();
    spawnSync('umount', [join(DIR, 'state')]);
    await rm(DIR, { recursive: true, force: true });
    await mkdir(join(DIR, 'state'), { recursive: true });
    // The state partition as the host has it: ext4 on a disk of its own.
    sh('truncate', ['-s', '64M', DISK]);
    sh('mkfs.ext4', ['-q', '-F', '-L', 'MVOS-STATE', DISK]);
    sh('mount', ['-o', 'loop', DISK, join(DIR, 'state')]);
    run = await AgentRun.start({ root: host.root, config: vaultConfig(host.config), dir: DIR });
    await run.waitForReady(['controller', 'app', 'other'], BOOT_MS);
  }),
);

test.after(async () => {
  await run?.kill('SIGKILL');
  if (run) await killVms(run.stateDir, NAMES);
  spawnSync('umount', [join(DIR, 'state')]);
});

test('made and filled over the API; each VM gets its own secret over its channel and nothing of the other', async () => {
  const made = await api<'POST /api/vault'>('POST', '/api/vault', {
    passphrase: PASS,
    custodians: { threshold: 2, shares: 3, label: '031 vault' },
  });
  cards = made.cards;
  assert.is(cards.length, 3);
  for (const [name, entry] of Object.entries(SECRETS))
    await api('POST', '/api/vault/entries', {
      name,
      ...('vm' in entry
        ? { kind: 'password', secret: entry.secret, vm: entry.vm }
        : { kind: 'totp', secret: entry.secret }),
    });
  const own = await askFrom('app', 'app-db');
  assert.is(own.rc, 0, own.out);
  assert.ok(own.out.includes(shown(SECRETS['app-db'].secret)), own.out);
  const theirs = await askFrom('app', 'other-token');
  assert.is(theirs.rc, 1, theirs.out);
  assert.match(theirs.out, /mvos-vault: no such secret for this VM/);
  assert.not.ok(theirs.out.includes(shown(SECRETS['other-token'].secret)));
  const back = await askFrom('other', 'app-db');
  assert.is(back.rc, 1, back.out);
  assert.not.ok(back.out.includes(shown(SECRETS['app-db'].secret)));
  const seed = await askFrom('other', 'github');
  assert.is(seed.rc, 1, 'an entry for no VM goes to none');
  const mine = await askFrom('other', 'other-token');
  assert.is(mine.rc, 0, mine.out);
  assert.ok(mine.out.includes(shown(SECRETS['other-token'].secret)));
});

test('locked, a VM gets nothing; at the controller console a drill passes, then cards and the passphrase unlock', async () => {
  await api('POST', '/api/vault/lock');
  const locked = await askFrom('app', 'app-db');
  assert.is(locked.rc, 1);
  assert.match(locked.out, /mvos-vault: locked/);
  const one = await apiCall(run!, 'POST', '/api/vault/unlock', { shares: [cards[1]] });
  assert.is(one.status, 400, 'one share opens nothing');
  const notHere = await consoleShell(run!.stateDir, 'app', "printf '\\n' | mvos-vault drill", 60_000);
  assert.is(notHere.rc, 1);
  assert.match(notHere.out, /only the controller and rescue VMs may drill the vault/);
  // At the controller's console, typed as a person would, with nothing typed echoed (the console log keeps no card).
  const card = (n: number) => ({ send: cards[n]!, expect: /\d+ characters[\s\S]*card \d \(empty line: done\): $/ });
  const drill = await converse('controller', [
    { send: 'mvos-vault drill', expect: /card 1 \(empty line: done\): $/ },
    card(2),
    card(0),
    { send: '', expect: /drill passed: shares 1, 3 of set \w{8} \(any 2 of 3\) recover the vault key; nothing was/ },
  ]);
  assert.not.ok(drill.includes(cards[2]!.slice(13, 40)), 'the card was not echoed');
  assert.is((await api<'GET /api/vault'>('GET', '/api/vault')).state, 'locked', 'a drill unlocks nothing');
  await converse('controller', [
    { send: 'mvos-vault unlock --shares', expect: /card 1 \(empty line: done\): $/ },
    card(1),
    card(2),
    { send: '', expect: /vault unlocked, 4 entries/ },
  ]);
  const again = await askFrom('app', 'app-db');
  assert.is(again.rc, 0, again.out);
  assert.ok(again.out.includes(shown(SECRETS['app-db'].secret)));
  await api('POST', '/api/vault/lock');
  const typed = await converse('controller', [
    { send: 'mvos-vault unlock', expect: /vault passphrase: $/ },
    { send: PASS, expect: /vault unlocked, 4 entries/ },
  ]);
  assert.not.ok(typed.includes(PASS), 'the passphrase was not echoed');
});

test('the host on its rescue VM: a recovery drill at its console', async () => {
  await api('POST', '/api/rescue', { reason: '031: recovery drill' });
  await run!.waitForReady(['rescue'], BOOT_MS);
  const card = (n: number) => ({ send: cards[n]!, expect: /\d+ characters[\s\S]*card \d \(empty line: done\): $/ });
  await converse('rescue', [
    { send: 'mvos-vault drill', expect: /card 1 \(empty line: done\): $/ },
    card(1),
    card(0),
    { send: '', expect: /drill passed: shares 1, 2 of set \w{8} \(any 2 of 3\) recover the vault key; nothing was/ },
  ]);
});

test('the state disk, copied while locked, holds no stored value in any form', async () => {
  await api('POST', '/api/vault/lock');
  await run!.kill('SIGKILL');
  await killVms(run!.stateDir, NAMES);
  run = undefined;
  // A killed QEMU may still be closing its files on the disk for a moment.
  for (let tries = 0; spawnSync('umount', [join(DIR, 'state')]).status !== 0; tries++) {
    assert.ok(tries < 50, 'the state disk unmounts once its VMs are gone');
    await sleep(200);
  }
  const disk = await readFile(DISK);
  // The disk is read: the vault file and its CA's public key are on it.
  assert.ok(disk.includes('mvos-vault/1'), 'the vault file is on the disk');
  assert.ok(disk.includes('mvos-vault-ca'), "the CA's public key is on the disk");
  const values = [PASS, ...Object.values(SECRETS).map((e) => e.secret), ...cards.map((c) => c.slice(13, 60))];
  for (const value of values)
    for (const form of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')])
      assert.not.ok(disk.includes(form), `the disk holds ${form.slice(0, 16)}…`);
  assert.not.ok(disk.includes('PRIVATE KEY'), "the disk holds the CA's private key");
});

test.run();
