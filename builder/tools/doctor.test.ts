import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../../common/temp-dir.ts';
import { checkHost, fixCommand, installLine, missingPackages } from './doctor.ts';
import { REQUIREMENTS } from './requirements.ts';

const noKvm = async () => ({ usable: false, reason: 'not probed in this test' });
const allPackages = REQUIREMENTS.map((r) => r.package).sort();

async function put(root: string, path: string, mode: number): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), '');
  await chmod(join(root, path), mode);
}

test('the requirements table names each package once, with absolute file paths', () => {
  assert.is(new Set(allPackages).size, allPackages.length);
  for (const r of REQUIREMENTS) {
    assert.ok(r.detect.length > 0, r.package);
    for (const d of r.detect) if ('file' in d) assert.ok(d.file.startsWith('/'), d.file);
  }
});

test('with an empty PATH and an empty root every package is missing and the install line names them all', async () => {
  await withTempDir('mvos-doctor-', async (root) => {
    const result = await checkHost({ pathDirs: [], root, isRoot: true, probe: noKvm });
    assert.is(result.tools.length, REQUIREMENTS.length);
    assert.ok(result.tools.every((t) => !t.found));
    assert.equal(result.missingPackages, allPackages);
    assert.is(result.installCommand, `apt-get install -y --no-install-recommends ${allPackages.join(' ')}`);
    assert.equal(result.kvm, { usable: false, reason: 'not probed in this test' });
  });
});

test('the install line gets sudo when not running as root', async () => {
  await withTempDir('mvos-doctor-', async (root) => {
    const result = await checkHost({ pathDirs: [], root, isRoot: false, probe: noKvm });
    assert.is(result.installCommand, `sudo apt-get install -y --no-install-recommends ${allPackages.join(' ')}`);
  });
});

test('commands count only as executable files on PATH (or sbin) below the root; files anywhere count', async () => {
  await withTempDir('mvos-doctor-', async (root) => {
    await put(root, '/usr/bin/xorriso', 0o755);
    await put(root, '/usr/bin/zstd', 0o644);
    await put(root, '/sbin/mkfs.vfat', 0o755);
    await put(root, '/usr/bin/mformat', 0o755);
    await put(root, '/bin/busybox', 0o755);
    await put(root, '/usr/share/OVMF/OVMF_CODE_4M.fd', 0o644);
    const result = await checkHost({ pathDirs: ['/usr/bin'], root, isRoot: true, probe: noKvm });
    const byName = new Map(result.tools.map((t) => [t.package, t]));
    assert.equal(byName.get('xorriso'), {
      package: 'xorriso',
      purpose: byName.get('xorriso')!.purpose,
      group: 'build',
      found: true,
      detail: 'xorriso',
    });
    assert.is(byName.get('zstd')!.found, false);
    assert.is(byName.get('dosfstools')!.found, true);
    assert.is(byName.get('busybox-static')!.found, true);
    assert.equal([byName.get('mtools')!.found, byName.get('mtools')!.detail], [false, 'mcopy']);
    assert.equal(
      [byName.get('ovmf')!.found, byName.get('ovmf')!.detail, byName.get('ovmf')!.group],
      [false, '/usr/share/OVMF/OVMF_VARS_4M.fd', 'qa'],
    );
    assert.not.ok(result.missingPackages.includes('xorriso'));
    assert.ok(result.missingPackages.includes('mtools'));
  });
});

test('missingPackages detects as checkHost does (sorted, each once) and refuses a package requirements.ts does not list', async () => {
  await withTempDir('mvos-doctor-', async (root) => {
    await put(root, '/usr/bin/xorriso', 0o755);
    await put(root, '/usr/bin/mformat', 0o755);
    await put(root, '/bin/busybox', 0o755);
    assert.equal(await missingPackages(['xorriso', 'mtools', 'zstd', 'busybox-static', 'mtools'], ['/usr/bin'], root), [
      'mtools',
      'zstd',
    ]);
    const refused = await missingPackages(['no-such-package'], ['/usr/bin'], root).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.match(
      (refused as Error).message,
      /^no-such-package is needed, but builder\/tools\/requirements\.ts does not list it$/,
    );
  });
});

test('on this machine (real PATH, root /) nothing is missing', async () => {
  const result = await checkHost({ probe: noKvm });
  assert.equal(
    result.tools.filter((t) => !t.found).map((t) => `${t.package} (${t.detail})`),
    [],
  );
  assert.equal(result.missingPackages, []);
  assert.is(result.installCommand, undefined);
});

test('fixCommand runs apt-get update, then installs the sorted packages', () => {
  assert.equal(fixCommand(['ovmf', 'cpio'], true), [
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', '--no-install-recommends', 'cpio', 'ovmf'],
  ]);
  assert.equal(fixCommand(['ovmf', 'cpio'], false), [
    ['sudo', '-n', 'apt-get', 'update'],
    ['sudo', '-n', 'apt-get', 'install', '-y', '--no-install-recommends', 'cpio', 'ovmf'],
  ]);
  assert.is(installLine(['zstd', 'cpio'], false), 'sudo apt-get install -y --no-install-recommends cpio zstd');
});

test.run();
