// The WebUI against the real agent on this machine (its VMs under TCG), in Debian's Chromium: log in with password and
// TOTP, see the controller ready, stop and start an application VM, take a checkpoint of the controller and roll back.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, generateSecret } from 'otplib';
import type { BrowserContext, Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encryptSecret } from '../../../agent/auth/secrets.ts';
import { openChromium } from '../../../agent/web/chromium.test-support.ts';
import type { VmView } from '../../../common/api-types.ts';
import { hashPassword } from '../../../common/secrets/password.ts';
import { AgentRun, apiCall, hostRoot, killVms, mvosVm } from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';
import { freePort } from '../../lib/free-port.ts';
import { repoRoot } from '../../lib/host-image.ts';

const BOOT_MS = 240_000;
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const SECRET = generateSecret();

let run: AgentRun;
let url: string;
let context: BrowserContext;
let page: Page;
let profile: string;

const row = (vm: string) => page.locator(`#vms tr[data-vm="${vm}"]`);

test.before(async () => {
  const host = await hostRoot();
  const dir = join(ARTIFACTS, '012-webui');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const keyFile = join(dir, 'secret.key');
  const key = randomBytes(32);
  await writeFile(keyFile, key, { mode: 0o600 });
  const config = structuredClone(host.config);
  const controller = config.vms.find((vm) => vm.role === 'controller')!;
  config.vms.push({
    ...controller,
    name: 'app',
    role: 'application',
    launch: 'novm',
    autostart: false,
    fallback: null,
    firmware: { type: 'none' },
    health: { ...controller.health, deadlineSeconds: 45 },
    restart: { attempts: 3, backoffSeconds: 1 },
  });
  const port = await freePort();
  config.agent = {
    apiListen: `127.0.0.1:${port}`,
    users: [
      {
        name: 'admin',
        passwordHash: await hashPassword(PASSWORD),
        authorizedKeys: [],
        otp: { type: 'totp', secret: encryptSecret(key, 'admin', SECRET) },
      },
    ],
    secretKeyFile: keyFile,
  };
  run = await AgentRun.start({ root: host.root, config, dir });
  url = `http://127.0.0.1:${port}`;
  profile = await mkdtemp(join(tmpdir(), 'mvos-chromium-'));
  ({ context, page } = await openChromium(profile, BOOT_MS));
});

test.after(async () => {
  await context?.close();
  await run?.kill('SIGKILL');
  if (run) await killVms(run.stateDir, ['controller', 'rescue', 'app']);
  if (profile) await rm(profile, { recursive: true, force: true });
});

test('log in with password and a TOTP code; the controller shows ready with its pinning plan', async () => {
  assert.is((await page.goto(`${url}/`))?.status(), 401);
  await page.fill('#user', 'admin');
  await page.fill('#password', PASSWORD);
  await page.fill('#code', await generate({ secret: SECRET }));
  await page.click('button[type=submit]');
  await page.locator('#vms tr[data-vm="controller"][data-state="ready"]').waitFor();
  await page.click('#vms a[data-select="controller"]');
  await page.locator('#pinning', { hasText: 'vCPU 0' }).waitFor();
});

test('stop and start an application VM (novm) from the page', async () => {
  await row('app').locator('button[data-action="start"]').click();
  await page.locator('#vms tr[data-vm="app"][data-state="ready"]').waitFor();
  await row('app').locator('button[data-action="stop"]').click();
  await page.locator('#vms tr[data-vm="app"][data-state="stopped"]').waitFor();
  await row('app').locator('button[data-action="start"]').click();
  await page.locator('#vms tr[data-vm="app"][data-state="ready"]').waitFor();
  const status = mvosVm(run, ['status', 'app']);
  assert.is((status.json as VmView).state, 'ready', 'the agent agrees');
});

test('take two checkpoints of the controller and roll back to the first', async () => {
  await page.click('#vms a[data-select="controller"]');
  for (const label of ['first from the browser', 'second from the browser']) {
    await page.fill('#checkpoint-label', label);
    await page.click('#checkpoint-form button[type=submit]');
    await page.locator(`#checkpoints tr[data-label="${label}"][data-current="true"]`).waitFor();
  }
  const first = page.locator('#checkpoints tr[data-label="first from the browser"]');
  const id = await first.getAttribute('data-checkpoint');
  await first.locator('button[data-op="rollback"]').click();
  await page.locator('#message', { hasText: `rolled back to ${id}` }).waitFor();
  await page.locator('#checkpoints tr[data-label="first from the browser"][data-current="true"]').waitFor();
  await page.locator('#vms tr[data-vm="controller"][data-state="ready"]').waitFor();
  const { history } = mvosVm(run, ['status', 'controller']).json as VmView;
  assert.ok(
    history.some((e) => e.event === 'rollback' && e.detail === `to checkpoint ${id}`),
    JSON.stringify(history.slice(-6)),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'webui-agent.png'), fullPage: true });
});

// What the terminal shows, row by row (xterm draws into divs; non-breaking spaces are its blanks).
const terminalText = () =>
  page.$$eval('#console .xterm-rows > div', (divs) =>
    divs.map((d) => (d.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()).join('\n'),
  );

test("switch to rescue; the banner opens the real rescue VM's console, a command typed there runs and its answer comes back", async () => {
  const switched = await apiCall(run, 'POST', '/api/rescue', { reason: 'console test from the browser' });
  assert.is(switched.status, 200, JSON.stringify(switched.json));
  await page.locator('#vms tr[data-vm="rescue"][data-state="ready"]').waitFor();
  await page.click('#rescue-console');
  await page.locator('#keyboard-state', { hasText: 'nobody has the keyboard' }).waitFor();
  await page.click('#console');
  // Enter first: the rescue shell's prompt may be waiting behind its boot messages.
  await page.keyboard.press('Enter');
  await page.keyboard.type('echo rescue-answers-$((6*7))');
  await page.keyboard.press('Enter');
  await page.locator('#keyboard[data-writer="true"] #keyboard-state', { hasText: 'you have the keyboard' }).waitFor();
  const until = Date.now() + 60_000;
  let text = '';
  while (Date.now() < until && !/rescue-answers-42/.test(text)) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    text = await terminalText();
  }
  assert.match(text, /rescue-answers-42/, `the rescue shell's answer is in the terminal:\n${text}`);
  assert.not.match(text, /\[\d+;\d+H|\[2J|\[6n/, 'no escape codes printed as text');
  await page.screenshot({ path: join(ARTIFACTS, 'webui-rescue-console.png'), fullPage: true });
});

test('mvos vm console rescue in a real terminal (tmux): takes the keyboard over, a command runs, ~. leaves, the terminal is as it was', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qa-012-tmux-'));
  const tmuxSocket = `mvos-qa-012-${process.pid}`;
  const tmux = (...args: string[]): string =>
    execFileSync('tmux', ['-L', tmuxSocket, ...args], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm' } });
  const screen = (): string => tmux('capture-pane', '-p', '-J', '-t', 'cli:0.0');
  const until = async (pattern: RegExp, ms = 60_000): Promise<void> => {
    for (const end = Date.now() + ms; Date.now() < end; ) {
      if (pattern.test(screen())) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${pattern} never showed; the screen:\n${screen()}`);
  };
  try {
    const script = join(dir, 'console.sh');
    // The browser still holds the keyboard: --force takes it over (the page is told).
    await writeFile(
      script,
      `stty -a > ${dir}/before\n${join(repoRoot, 'mvos')} vm console rescue --force --socket ${join(run.dir, 'run', 'agent.sock')}\necho "exit=$?" > ${dir}/code\nstty -a > ${dir}/after\nsleep 60\n`,
    );
    tmux('new-session', '-d', '-s', 'cli', '-x', '120', '-y', '40', `sh ${script}`);
    await until(/you have the keyboard/);
    await page.locator('#keyboard[data-writer="false"]').waitFor();
    tmux('send-keys', '-t', 'cli:0.0', '-l', 'echo cli-answers-$((6*7))');
    tmux('send-keys', '-t', 'cli:0.0', 'Enter');
    await until(/^cli-answers-42$/m);
    tmux('send-keys', '-t', 'cli:0.0', 'Enter');
    tmux('send-keys', '-t', 'cli:0.0', '-l', '~.');
    await until(/\[console detached\]/);
    // The script writes the exit code, then the second stty: wait until that one is complete.
    const before = await readFile(join(dir, 'before'), 'utf8');
    const after = async (): Promise<string> =>
      existsSync(join(dir, 'after')) ? readFile(join(dir, 'after'), 'utf8') : '';
    for (let i = 0; i < 100 && (await after()).length < before.length; i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.is(await readFile(join(dir, 'code'), 'utf8'), 'exit=0\n');
    assert.is(await after(), before, 'stty -a before = after');
  } finally {
    try {
      tmux('kill-server');
    } catch {
      // Already gone.
    }
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
