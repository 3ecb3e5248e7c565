// Test support: Debian's Chromium, headless through playwright-core (no browser download), for the WebUI tests.
import { type BrowserContext, chromium, type Page } from 'playwright-core';

// Where Debian's chromium package puts the browser.
export const CHROMIUM = '/usr/bin/chromium';

// Headless, no sandbox (tests run as root), no GPU and none of Chromium's own network traffic.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Opens a 1280×900 browser on the profile folder whose waits default to timeoutMs; it accepts every confirm dialog.
export async function openChromium(
  profile: string,
  timeoutMs: number,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(timeoutMs);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (d) => void d.accept());
  return { context, page };
}

// Logs `user` in on the login page at `url` with their password and a fresh code.
export async function logInAs(page: Page, url: string, user: string, password: string, code: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.fill('#code', code);
  await page.click('button[type=submit]');
}
