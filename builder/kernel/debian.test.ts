import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { findKernelDeb } from '../../qa/lib/kernel-deb.ts';
import { extractDebianKernel } from './debian.ts';

test('a real linux-image package yields its kernel, version and module tree', async () => {
  const path = await findKernelDeb();
  const kernel = await extractDebianKernel(await readFile(path), path);
  assert.match(kernel.version, /^\d+\.\d+\.\d+-\d+-[a-z0-9-]+$/);
  assert.ok(path.includes(kernel.version) || path.includes('/blobs/'), `${kernel.version} vs ${path}`);
  // bzImage files carry "HdrS" at offset 0x202.
  assert.is(kernel.vmlinuz.subarray(0x202, 0x206).toString('latin1'), 'HdrS');
  for (const index of ['modules.builtin', 'modules.order', 'modules.builtin.modinfo'])
    assert.ok(kernel.modules.has(index), index);
  const modules = [...kernel.modules.keys()].filter((p) => /\.ko(\.xz|\.zst)?$/.test(p));
  assert.ok(modules.length > 500, `only ${modules.length} modules`);
  assert.ok(modules.some((p) => /^kernel\/drivers\/vhost\/vhost_net\.ko/.test(p)));
  assert.ok([...kernel.modules.keys()].every((p) => !p.startsWith('/') && !p.startsWith('lib/')));
  assert.is(kernel.modules.get(modules[0]!)!.readUInt32BE(0), 0x7f454c46);
});

test('a package without a kernel image is refused by name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-debian-'));
  try {
    await mkdir(join(dir, 'pkg', 'DEBIAN'), { recursive: true });
    await mkdir(join(dir, 'pkg', 'usr', 'share', 'doc', 'hello'), { recursive: true });
    await writeFile(
      join(dir, 'pkg', 'DEBIAN', 'control'),
      'Package: hello\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n',
    );
    await writeFile(join(dir, 'pkg', 'usr', 'share', 'doc', 'hello', 'README'), 'hi\n');
    await runTool('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', join(dir, 'pkg'), join(dir, 'hello.deb')]);
    await extractDebianKernel(await readFile(join(dir, 'hello.deb')), 'hello.deb');
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, FailureError);
    assert.match((error as Error).message, /hello\.deb has no boot\/vmlinuz-<version>/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
