// Choosing the rescue entry in the boot menu (its hotkey r, typed on the serial console by `mvos run --entry rescue`)
// boots the host's rescue system: no agent, a console shell.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildHostImage, repoRoot } from '../../lib/host-image.ts';
import { RESCUE_SHELL } from '../../lib/media-boot.ts';

test('mvos run --firmware bios --media cd --entry rescue: the menu entry boots the rescue shell', () => {
  const image = buildHostImage();
  const run = spawnSync(
    join(repoRoot, 'mvos'),
    [
      'run',
      image.dir,
      '--firmware',
      'bios',
      '--media',
      'cd',
      '--entry',
      'rescue',
      '--accel',
      'tcg',
      '--expect',
      RESCUE_SHELL,
      '--timeout',
      '240',
      '--json',
    ],
    { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 300_000 },
  );
  assert.is(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { ms: number; accel: string };
  console.log(
    `  rescue entry from the ISO (SeaBIOS, CD): console shell ${(result.ms / 1000).toFixed(1)} s after QEMU started (${result.accel})`,
  );
});

test.run();
