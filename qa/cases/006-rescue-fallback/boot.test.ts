// Boot counting on the raw disk: each host boot that never reaches ready leaves boot_tries raised in the ESP's grubenv;
// after recipe.boot.attempts of them GRUB boots the rescue entry by itself (the host without its agent, a console
// shell); a boot that reaches agent ready sets the counter back to 0.

import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../../common/exec.ts';
import { buildHostImage, repoRoot } from '../../lib/host-image.ts';
import { AGENT_READY, bootMedium, RESCUE_SHELL } from '../../lib/media-boot.ts';

const ESP_OFFSET = 4096 * 512;

async function bootTries(disk: string): Promise<string> {
  const env = (
    await runTool('mtype', ['-i', `${disk}@@${ESP_OFFSET}`, '::/boot/grub/grubenv'], {
      env: { MTOOLS_SKIP_CHECK: '1' },
    })
  ).stdout;
  return /^boot_tries=(\d+)$/m.exec(env)?.[1] ?? 'unset';
}

// Boots the disk through SeaBIOS until marker, writable so that what GRUB and init write to grubenv stays.
function bootDisk(disk: string, name: string, marker: string | RegExp, timeoutS?: number) {
  return bootMedium({ name, file: disk, firmware: 'bios', media: 'disk', writable: true, marker, timeoutS });
}

test('a host entry that never gets ready is tried N times, then rescue boots by itself', async () => {
  const image = buildHostImage();
  const attempts = Number(/^\s+attempts: (\d+)$/m.exec(readFileSync(join(repoRoot, 'recipes/host.yaml'), 'utf8'))![1]);
  const dir = mkdtempSync(join(tmpdir(), 'mvos-qa-fallback-'));
  try {
    const disk = join(dir, 'disk.raw');
    copyFileSync(join(image.dir, 'multiverse-host.raw'), disk);
    assert.is(await bootTries(disk), '0');
    // A failed boot: GRUB picked the host entry (and counted it), then the machine died before the agent was ready.
    for (let i = 1; i <= attempts; i++) {
      const tried = await bootDisk(disk, `006-try-${i}`, 'mvos: booting multiverse-host', 120);
      assert.not.match(tried.log, /booting rescue/);
      assert.is(await bootTries(disk), String(i));
    }
    const rescue = await bootDisk(disk, '006-rescue', RESCUE_SHELL);
    assert.match(rescue.log, new RegExp(`tried ${attempts} times without reaching ready`));
    assert.match(rescue.log, /mvos: booting rescue/);
    assert.not.match(rescue.log, /MVOS-AGENT-READY/);
    console.log(
      `  rescue after ${attempts} failed tries: console shell ${(rescue.ms / 1000).toFixed(1)} s after QEMU started`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a boot that reaches agent ready resets the counter (init rewrites grubenv in place on MVOS-ESP)', async () => {
  const image = buildHostImage();
  const dir = mkdtempSync(join(tmpdir(), 'mvos-qa-reset-'));
  try {
    const disk = join(dir, 'disk.raw');
    copyFileSync(join(image.dir, 'multiverse-host.raw'), disk);
    await bootDisk(disk, '006-reset-try', 'mvos: booting multiverse-host', 120);
    assert.is(await bootTries(disk), '1', 'a failed boot left the counter raised');
    const good = await bootDisk(
      disk,
      '006-reset-good',
      /boot counter: this boot reached agent ready; boot_tries reset to 0/,
    );
    assert.match(good.log, AGENT_READY);
    assert.is(await bootTries(disk), '0', 'the good boot reset it');
    assert.is(statSync(disk).size, statSync(join(image.dir, 'multiverse-host.raw')).size);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
