// The WebUI in Debian's Chromium (playwright-core, no browser download): log in with password + TOTP, see the
// controller, stop and start a VM, take and roll back a checkpoint, watch the console live, the rescue banner; `mvos vm
// list
// --json` agrees.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startFixture } from '../api/fixture.test-support.ts';
import { CHROMIUM, CHROMIUM_ARGS, logInAs, openChromium } from './chromium.test-support.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TIMEOUT = 60_000;

if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);

const fx = await startFixture();
const profile = await mkdtemp(join(tmpdir(), 'mvos-chromium-'));
const artifacts = join(root, 'qa', 'artifacts');
await mkdir(artifacts, { recursive: true });
let context: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];

test.before(async () => {
  ({ context, page } = await openChromium(profile, TIMEOUT));
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(e.message));
});

const row = (vm: string) => page.locator(`#vms tr[data-vm="${vm}"]`);

test('without a session the page is the login form; a wrong code is refused on the page', async () => {
  const answer = await page.goto(`${fx.url}/`);
  assert.is(answer?.status(), 401);
  await page.fill('#user', 'alice');
  await page.fill('#password', 'correct horse battery staple');
  await page.fill('#code', (await fx.code('alice')) === '000000' ? '111111' : '000000');
  await page.click('button[type=submit]');
  await page.locator('#login-error').waitFor({ state: 'visible' });
  assert.match((await page.textContent('#login-error')) ?? '', /wrong user, password or code/);
});

test('log in with password and code, and see the controller VM ready', async () => {
  await page.fill('#password', 'correct horse battery staple');
  await page.fill('#code', await fx.code('alice'));
  await page.click('button[type=submit]');
  await row('controller').waitFor();
  // The 401s of the login form (page without a session, the wrong code) are expected; from here on nothing may fail.
  consoleErrors.length = 0;
  assert.is(await row('controller').locator('td.state').textContent(), 'ready');
  assert.is(await page.textContent('#user'), 'alice');
  assert.match((await page.textContent('#host-name')) ?? '', /test-host 1\.2\.3/);
  assert.ok(await page.locator('#rescue-banner').isHidden(), 'no rescue banner while the controller runs');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'mvos_session')!;
  assert.ok(session.httpOnly);
  assert.is(session.sameSite, 'Strict');
});

test('the pinning plan and the console of the selected VM show; console output arrives live', async () => {
  await page.click('#vms a[data-select="web"]');
  await page.locator('#detail-name', { hasText: 'web' }).waitFor();
  await page.locator('#pinning', { hasText: 'vCPU 0' }).waitFor();
  await page.locator('#console', { hasText: 'MVOS-GUEST-READY' }).waitFor();
  fx.controls.emitConsole('web', 'hello from the console test\n');
  await page.locator('#console', { hasText: 'hello from the console test' }).waitFor();
});

test('stop and start an application VM', async () => {
  await row('web').locator('button[data-action="stop"]').click();
  await page.locator('#vms tr[data-vm="web"][data-state="stopped"]').waitFor();
  assert.ok(await row('web').locator('button[data-action="stop"]').isDisabled());
  await row('web').locator('button[data-action="start"]').click();
  await page.locator('#vms tr[data-vm="web"][data-state="ready"]').waitFor();
  const calls = fx.controls.calls
    .filter((c) => c.method === 'stopVm' || c.method === 'startVm')
    .map((c) => `${c.method} ${c.args[0]}`);
  assert.equal(calls, ['stopVm web', 'startVm web']);
  await page.locator('#history li', { hasText: 'stopped' }).first().waitFor();
});

test('take a checkpoint, then roll back to the base one', async () => {
  await page.fill('#checkpoint-label', 'before the ui test');
  await page.click('#checkpoint-form button[type=submit]');
  const taken = page.locator('#checkpoints tr[data-label="before the ui test"]');
  await taken.waitFor();
  assert.is(await taken.getAttribute('data-current'), 'true');
  await page.locator('#checkpoints tr[data-checkpoint="web-base"] button[data-op="rollback"]').click();
  await page.locator('#checkpoints tr[data-checkpoint="web-base"][data-current="true"]').waitFor();
  assert.is(await taken.getAttribute('data-current'), 'false');
  assert.ok(fx.controls.calls.some((c) => c.method === 'rollback' && c.args[0] === 'web' && c.args[1] === 'web-base'));
  await page.locator('#message', { hasText: 'rolled back to web-base' }).waitFor();
  await page.locator('#net tr[data-network="lan"]', { hasText: '198.51.100.2/24' }).waitFor();
  await page.locator('#rules li', { hasText: 'deny tcp to any port 25' }).waitFor();
  await page.screenshot({ path: join(artifacts, 'webui.png'), fullPage: true });
});

test('a start that ends failed shows the reason as an error and in the health column', async () => {
  await row('web').locator('button[data-action="stop"]').click();
  await page.locator('#vms tr[data-vm="web"][data-state="stopped"]').waitFor();
  fx.controls.failNextStart('web', 'missed its health deadline');
  await row('web').locator('button[data-action="start"]').click();
  await page.locator('#message.error', { hasText: 'web failed: missed its health deadline' }).waitFor();
  await page
    .locator('#vms tr[data-vm="web"][data-state="failed"] td.health', { hasText: 'failed: missed its health deadline' })
    .waitFor();
});

test('`mvos vm list --json` returns what the WebUI shows', async () => {
  const cli = spawn(join(root, 'mvos'), ['vm', 'list', '--json', '--socket', fx.socket], { cwd: root });
  let out = '';
  cli.stdout.on('data', (c) => (out += c));
  const code = await new Promise((resolve) => cli.on('close', resolve));
  assert.is(code, 0);
  const vms = JSON.parse(out) as Array<{
    name: string;
    role: string;
    launch: string;
    state: string;
    readyAt?: string;
    failure?: { reason: string };
    history: Array<{ at: string; event: string; detail?: string }>;
  }>;
  // Read the rows just after a refresh so both look at the same moment (nothing changes the fake in between).
  await page.waitForResponse((r) => r.url().endsWith('/api/vms'));
  const shown = await page.$$eval('#vms tbody tr', (rows) =>
    rows.map((r) =>
      Array.from(r.querySelectorAll('td'))
        .slice(0, 5)
        .map((td) => td.textContent),
    ),
  );
  const expected = vms.map((vm) => {
    const last = vm.history[vm.history.length - 1];
    const health =
      vm.state === 'failed'
        ? `failed: ${vm.failure!.reason}`
        : vm.state === 'ready' && vm.readyAt
          ? `ready at ${vm.readyAt}`
          : last
            ? `${last.event}${last.detail ? ` (${last.detail})` : ''} at ${last.at}`
            : 'no events yet';
    return [vm.name, vm.role, vm.launch, vm.state, health];
  });
  assert.equal(shown, expected);
  assert.ok(
    shown.some((r) => r[3] === 'failed'),
    'a failed VM is among the rows compared',
  );
  await row('web').locator('button[data-action="start"]').click();
  await page.locator('#vms tr[data-vm="web"][data-state="ready"]').waitFor();
  // Ready again after the failure: the health column shows now; the failure is in the history.
  await page.locator('#vms tr[data-vm="web"] td.health', { hasText: /^ready at / }).waitFor();
});

test('when the host falls back to the rescue VM, a banner says so and why', async () => {
  await fx.controls.rescue('controller missed its deadline');
  const banner = page.locator('#rescue-banner');
  await banner.waitFor({ state: 'visible' });
  assert.match((await banner.textContent()) ?? '', /fallen back to the rescue VM: controller missed its deadline/);
  await page.screenshot({ path: join(artifacts, 'webui-rescue.png'), fullPage: true });
  assert.equal(consoleErrors, [], 'no script errors in the page');
});

const rows = (on: Page) =>
  on.$$eval('#console .xterm-rows > div', (divs) =>
    divs.map((d) => (d.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()),
  );

async function rowShows(on: Page, want: string | RegExp): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const now = await rows(on);
    if (now.some((r) => (typeof want === 'string' ? r === want : want.test(r)))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no terminal row ${want}; rows: ${JSON.stringify((await rows(on)).filter(Boolean))}`);
}

test('the banner links to the rescue console; it is a terminal: typing takes the free keyboard, a command runs and its output comes back; colours are drawn, not printed; paste types, the terminal fits a resized window', async () => {
  // busybox's shell asks for the cursor position at its prompt; the page's terminal answers by itself, and that answer
  // must neither take the free keyboard nor reach the guest (in the backlog, the query comes to every new viewer).
  fx.controls.emitConsole('rescue', '/ # \x1b[6n');
  await page.click('#rescue-console');
  await page.locator('#detail-name', { hasText: 'rescue' }).waitFor();
  await page.locator('#keyboard-state', { hasText: 'read-only: nobody has the keyboard' }).waitFor();
  await rowShows(page, 'MVOS-GUEST-READY');
  await new Promise((r) => setTimeout(r, 500));
  assert.is(await page.textContent('#keyboard-state'), 'read-only: nobody has the keyboard');
  assert.is(fx.controls.consoles.sent('rescue'), '', 'the answer to a query in the backlog went nowhere');
  await page.click('#console');
  await page.keyboard.type('echo hi-from-the-browser');
  await page.keyboard.press('Enter');
  await page.locator('#keyboard[data-writer="true"] #keyboard-state', { hasText: 'you have the keyboard' }).waitFor();
  await rowShows(page, 'hi-from-the-browser');
  assert.is(fx.controls.consoles.sent('rescue'), 'echo hi-from-the-browser\r');
  fx.controls.emitConsole('rescue', '\x1b[1;31mRED-ALERT\x1b[0m plain\r\n');
  await rowShows(page, /RED-ALERT plain$/);
  assert.not.ok(
    (await rows(page)).some((r) => r.includes('[1;31m') || r.includes('\x1b')),
    'no escape codes printed as text',
  );
  const colours = await page.$$eval('#console .xterm-rows span', (spans) => {
    const red = spans.find((s) => s.textContent === 'RED-ALERT');
    const plain = spans.find((s) => (s.textContent ?? '').includes('plain'));
    return [
      red && getComputedStyle(red).color,
      plain && getComputedStyle(plain).color,
      red && getComputedStyle(red).fontWeight,
    ];
  });
  assert.ok(
    colours[0] && colours[0] !== colours[1],
    `the red text is drawn in another colour (${colours.join(', ')}): xterm's theme reached the page under the CSP`,
  );
  await page.screenshot({ path: join(artifacts, 'webui-console.png'), fullPage: true });
  // A paste goes to the guest as typed text (xterm reads the clipboard event).
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.setData('text/plain', 'echo pasted-text');
    document
      .querySelector('#console textarea')!
      .dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  });
  await page.keyboard.press('Enter');
  await rowShows(page, 'pasted-text');
  // A narrower window: the terminal fits its box again.
  const before = await page.$eval('#console .xterm-screen', (e) => e.getBoundingClientRect().width);
  await page.setViewportSize({ width: 800, height: 900 });
  await page.waitForFunction((was) => {
    const box = document.querySelector('#console')!.getBoundingClientRect();
    const screen = document.querySelector('#console .xterm-screen')!.getBoundingClientRect();
    return screen.width < was && screen.right <= box.right;
  }, before);
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('a second session sees the output and cannot type until it takes over; the first is told', async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  other.setDefaultTimeout(TIMEOUT);
  const bob = await other.newPage();
  const bobErrors: string[] = [];
  bob.on('console', (m) => m.type() === 'error' && bobErrors.push(m.text()));
  try {
    await logInAs(bob, fx.url, 'bob', 'tr0ub4dor&3', await fx.code('bob'));
    await bob.locator('#vms tr[data-vm="rescue"]').waitFor();
    bobErrors.length = 0;
    await bob.click('#rescue-console');
    await bob.locator('#keyboard-state', { hasText: 'read-only: alice has the keyboard' }).waitFor();
    await rowShows(bob, 'hi-from-the-browser');
    await bob.click('#console');
    await bob.keyboard.type('reboot');
    await bob.locator('#message.error', { hasText: 'read-only' }).waitFor();
    assert.not.ok(fx.controls.consoles.sent('rescue').includes('reboot'), 'the read-only session typed nothing');
    await bob.click('#take-keyboard');
    await bob.locator('#keyboard[data-writer="true"]').waitFor();
    await page
      .locator('#keyboard[data-writer="false"] #keyboard-state', { hasText: 'read-only: bob has the keyboard' })
      .waitFor();
    await page.locator('#message', { hasText: 'bob took the keyboard of rescue' }).waitFor();
    await bob.click('#console');
    await bob.keyboard.type('echo from-bob');
    await bob.keyboard.press('Enter');
    await rowShows(page, 'from-bob');
    await page.click('#console');
    await page.keyboard.type('x');
    await page.locator('#message.error', { hasText: 'read-only' }).waitFor();
    assert.is(fx.controls.consoles.sent('rescue'), 'echo hi-from-the-browser\recho pasted-text\recho from-bob\r');
    assert.equal(bobErrors, [], 'no script errors in the second page');
  } finally {
    await browser.close();
  }
  assert.equal(consoleErrors, [], 'no script errors in the page');
});

test('log out: the session is gone and the page is the login form again', async () => {
  await page.click('#logout');
  await page.waitForURL(`${fx.url}/login`);
  const answer = await page.goto(`${fx.url}/`);
  assert.is(answer?.status(), 401);
});

test.after(async () => {
  await context?.close();
  await fx.close();
  await rm(profile, { recursive: true, force: true });
});
test.run();
