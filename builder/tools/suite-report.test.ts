import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readLockfile } from '../inputs/lockfile.ts';
import { suiteReport } from './suite-report.ts';

test("the default lock's report names its suite and what the image takes from it, by package and version", () => {
  const lock = readLockfile(join(process.cwd(), 'recipes/host.lock.json'))!;
  const lines = suiteReport(lock, 'recipes/host.lock.json');
  assert.match(lines[0]!, /^from Debian trixie as recipes\/host\.lock\.json pins it/);
  const parts = lines.slice(1).map((line) => line.trim().split(':')[0]);
  assert.equal(parts, ['host kernel', 'guest kernel source', 'QEMU', 'OVMF', 'SeaBIOS', 'busybox', 'Node runtime']);
  assert.ok(lines.includes(`  Node runtime: nodejs ${lock.packages.nodejs!.version}`));
  assert.match(lines.find((l) => l.includes('host kernel'))!, /linux-image-6\.12\.\S+-amd64 6\.12\./);
});

test('the Debian 12 example reports bookworm and its own versions', () => {
  const lock = readLockfile(join(process.cwd(), 'recipes/examples/host-bookworm.lock.json'))!;
  const lines = suiteReport(lock, 'host-bookworm.lock.json');
  assert.match(lines[0]!, /Debian bookworm/);
  assert.match(lines.find((l) => l.includes('QEMU'))!, /qemu-system-x86 1:7\.2/);
});

test.run();
