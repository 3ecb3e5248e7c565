// The raw image, written to a loop device with `mvos flash --yes`, boots from that device through SeaBIOS to agent
// ready.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildHostImage, repoRoot } from '../../lib/host-image.ts';
import { AGENT_READY, bootMedium } from '../../lib/media-boot.ts';

function sh(file: string, args: string[]): string {
  const run = spawnSync(file, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${run.stderr}`);
  return run.stdout.trim();
}

test('raw flashed to a loop device with mvos flash: boot the device via SeaBIOS to MVOS-AGENT-READY', async () => {
  if (process.getuid?.() !== 0) return console.log('  skipped: losetup needs root');
  const image = buildHostImage();
  const raw = join(image.dir, 'multiverse-host.raw');
  const work = mkdtempSync(join(tmpdir(), 'mvos-qa-flash-'));
  const backing = join(work, 'disk.img');
  writeFileSync(backing, '');
  sh('truncate', ['-s', '512M', backing]);
  const dev = sh('losetup', ['-f', '--show', backing]);
  try {
    // Only ever the loop device attached just now.
    assert.match(dev, /^\/dev\/loop\d+$/);
    assert.is(sh('losetup', ['-n', '-O', 'BACK-FILE', dev]), backing);
    const flash = spawnSync(join(repoRoot, 'mvos'), ['flash', raw, dev, '--yes', '--json'], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 10 * 60_000,
    });
    assert.is(flash.status, 0, flash.stderr);
    const written = JSON.parse(flash.stdout) as {
      bytes: number;
      seconds: number;
      mibPerSecond: number;
      verified: boolean;
    };
    assert.ok(written.verified);
    console.log(
      `  flash: ${written.bytes} bytes in ${written.seconds.toFixed(1)} s (${written.mibPerSecond.toFixed(1)} MiB/s), verified`,
    );
    const result = await bootMedium({
      name: '008-flash-loop',
      file: dev,
      firmware: 'bios',
      media: 'disk',
      writable: false,
      marker: AGENT_READY,
    });
    assert.match(result.log, /mvos: booting multiverse-host/, 'GRUB booted the host entry');
    console.log(`  flash-loop: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (${result.accel})`);
  } finally {
    sh('losetup', ['-d', dev]);
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
