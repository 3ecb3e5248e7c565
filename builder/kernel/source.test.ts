import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError, UserError } from '../../common/errors.ts';
import { withTempDir } from '../../common/temp-dir.ts';
import { ContentCache } from '../inputs/cache.ts';
import {
  cachedKernelFromSource,
  fragmentOptions,
  kernelSourceKey,
  parseKconfig,
  readConfigFragments,
  verifyFragments,
} from './source.ts';

const SHA = 'a'.repeat(64);
const guestTiny = fileURLToPath(new URL('../../kernel-config/guest-tiny', import.meta.url));
const fragments = () =>
  new Map([
    ['base.config', '# base\nCONFIG_64BIT=y\nCONFIG_PRINTK=y\n'],
    ['trim.config', '# CONFIG_VT is not set\nCONFIG_PANIC_TIMEOUT=-1\n'],
  ]);

test('the key is stable for the same inputs, whatever order the fragments come in', () => {
  const key = kernelSourceKey(SHA, fragments(), 'tinyconfig');
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.is(kernelSourceKey(SHA, fragments(), 'tinyconfig'), key);
  assert.is(kernelSourceKey(SHA, new Map([...fragments()].reverse()), 'tinyconfig'), key);
});

test('the key changes with a fragment, its name, the source, the timestamp or the toolchain', () => {
  const key = kernelSourceKey(SHA, fragments(), 'tinyconfig');
  const changed = fragments();
  changed.set('base.config', changed.get('base.config')!.replace('PRINTK=y', 'PRINTK=n'));
  assert.is.not(kernelSourceKey(SHA, changed, 'tinyconfig'), key);
  const renamed = new Map([...fragments()].map(([n, t]) => [n === 'trim.config' ? 'zz.config' : n, t]));
  assert.is.not(kernelSourceKey(SHA, renamed, 'tinyconfig'), key);
  const added = fragments().set('fs.config', 'CONFIG_SQUASHFS=y\n');
  assert.is.not(kernelSourceKey(SHA, added, 'tinyconfig'), key);
  assert.is.not(kernelSourceKey('b'.repeat(64), fragments(), 'tinyconfig'), key);
  assert.is.not(kernelSourceKey(SHA, fragments(), 'tinyconfig', { sourceDateEpoch: 1 }), key);
  assert.is.not(kernelSourceKey(SHA, fragments(), 'tinyconfig', { toolchain: 'gcc 13' }), key);
});

test('parseKconfig reads assignments and "is not set" lines, ignoring other comments', () => {
  const parsed = parseKconfig('# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="text = x"\nCONFIG_D=-1\n\n');
  assert.equal(
    [...parsed],
    [
      ['CONFIG_A', 'y'],
      ['CONFIG_B', 'n'],
      ['CONFIG_C', '"text = x"'],
      ['CONFIG_D', '-1'],
    ],
  );
});

test('fragments that agree pass; an option two fragments set differently is a UserError naming both', () => {
  assert.is(fragmentOptions(fragments()).get('CONFIG_VT')!.value, 'n');
  const clash = fragments().set('zz.config', 'CONFIG_VT=y\n');
  try {
    fragmentOptions(clash);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as Error).message, /disagree on CONFIG_VT: trim\.config sets n, zz\.config sets y/);
  }
});

test('a final .config that keeps every fragment option passes verification', () => {
  const final =
    '#\n# Linux/x86 6.1 Kernel Configuration\nCONFIG_64BIT=y\nCONFIG_X86_64=y\nCONFIG_PRINTK=y\nCONFIG_PANIC_TIMEOUT=-1\n';
  verifyFragments(fragments(), final);
  verifyFragments(fragments(), `${final}# CONFIG_VT is not set\n`);
});

test('an option Kconfig dropped, or one still selected, is a FailureError naming each with its fragment', () => {
  const final = 'CONFIG_64BIT=y\n# CONFIG_PRINTK is not set\nCONFIG_VT=y\nCONFIG_PANIC_TIMEOUT=0\n';
  try {
    verifyFragments(fragments(), final);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, FailureError);
    const message = (error as Error).message;
    assert.match(message, /lost 3 fragment options/);
    assert.match(message, /base\.config: CONFIG_PRINTK=y became n/);
    assert.match(message, /trim\.config: CONFIG_VT=n became y/);
    assert.match(message, /trim\.config: CONFIG_PANIC_TIMEOUT=-1 became 0/);
    assert.not.match(message, /CONFIG_64BIT/);
    assert.ok((error as FailureError).hint);
  }
  try {
    verifyFragments(new Map([['virtio.config', 'CONFIG_VIRTIO_NET=y\n']]), 'CONFIG_NET=y\n');
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.match((error as Error).message, /virtio\.config: CONFIG_VIRTIO_NET=y became absent/);
  }
});

test('the guest-tiny fragments parse, agree with each other and ask for what a QEMU guest needs', async () => {
  const options = fragmentOptions(await readConfigFragments(guestTiny));
  for (const option of [
    '64BIT',
    'PRINTK',
    'BLK_DEV_INITRD',
    'RD_GZIP',
    'RD_ZSTD',
    'BINFMT_ELF',
    'BINFMT_SCRIPT',
    'SERIAL_8250_CONSOLE',
    'DEVTMPFS',
    'TMPFS',
    'PROC_FS',
    'SYSFS',
    'PCI',
    'VIRTIO_PCI',
    'VIRTIO_MMIO',
    'VIRTIO_BLK',
    'VIRTIO_NET',
    'VIRTIO_CONSOLE',
    'UNIX',
    'EROFS_FS',
    'SQUASHFS',
    'OVERLAY_FS',
    'ACPI',
  ]) {
    assert.is(options.get(`CONFIG_${option}`)?.value, 'y', option);
  }
});

test('guest-router extends guest-tiny: its fragments first (named guest-tiny.<file>), then netfilter and fw_cfg', async () => {
  const fragments = await readConfigFragments(join(guestTiny, '..', 'guest-router'));
  const names = [...fragments.keys()];
  assert.ok(names.includes('guest-tiny.virtio.config') && names.includes('netfilter.config'), names.join(' '));
  assert.ok(names.indexOf('guest-tiny.virtio.config') < names.indexOf('netfilter.config'));
  const options = fragmentOptions(fragments);
  for (const option of [
    'NF_TABLES',
    'NF_TABLES_IPV4',
    'NF_TABLES_ARP',
    'NFT_NAT',
    'NFT_MASQ',
    'NFT_CT',
    'FW_CFG_SYSFS',
    'PACKET',
    'WIREGUARD',
    'TUN',
    'NFT_REDIR',
    'IP_MULTIPLE_TABLES',
  ])
    assert.is(options.get(`CONFIG_${option}`)?.value, 'y', option);
  assert.is(options.get('CONFIG_IPV6')?.value, 'n', 'no IPv6 stack in the router: nothing IPv6 can be forwarded');
});

test('an extends cycle or a bad folder name is refused', async () => {
  await withTempDir('mvos-source-', async (dir) => {
    for (const [name, parent] of [
      ['a', 'b'],
      ['b', 'a'],
    ] as const) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'x.config'), 'CONFIG_X=y\n');
      await writeFile(join(dir, name, 'extends'), `${parent}\n`);
    }
    try {
      await readConfigFragments(join(dir, 'a'));
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.instance(error, UserError);
      assert.match((error as Error).message, /is not a kernel-config folder this one can extend/);
    }
  });
});

test('readConfigFragments refuses a folder without fragments', async () => {
  await withTempDir('mvos-source-', async (dir) => {
    await writeFile(join(dir, 'README'), 'not a fragment');
    try {
      await readConfigFragments(dir);
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.instance(error, UserError);
      assert.match((error as Error).message, /holds no \*\.config fragments/);
    }
  });
});

test('cachedKernelFromSource builds once, then returns the stored bzImage and config without building', async () => {
  await withTempDir('mvos-source-', async (dir) => {
    const cache = new ContentCache(join(dir, 'cache'));
    await mkdir(cache.root);
    let builds = 0;
    const build = async () => {
      builds++;
      return { bzImage: Buffer.from('fake bzImage'), config: 'CONFIG_64BIT=y\n', version: '6.1.0', seconds: 420 };
    };
    const key = kernelSourceKey(SHA, fragments(), 'tinyconfig');
    const first = await cachedKernelFromSource(cache, key, build);
    assert.is(first.cached, false);
    const started = Date.now();
    const second = await cachedKernelFromSource(cache, key, build);
    assert.ok(Date.now() - started < 200, `${Date.now() - started} ms`);
    assert.is(builds, 1);
    assert.equal(
      { ...second, bzImage: second.bzImage.toString() },
      { bzImage: 'fake bzImage', config: 'CONFIG_64BIT=y\n', version: '6.1.0', seconds: 420, cached: true },
    );
    await cachedKernelFromSource(cache, kernelSourceKey(SHA, fragments(), 'tinyconfig', { sourceDateEpoch: 5 }), build);
    assert.is(builds, 2);
  });
});

test.run();
