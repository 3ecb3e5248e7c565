import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { findKernelDeb } from '../../qa/lib/kernel-deb.ts';
import { type DebianKernel, extractDebianKernel } from './debian.ts';
import { moduleInfo, runDepmod, selectModules } from './modules.ts';

let kernel: DebianKernel;
const WANTED = ['virtio_blk', 'virtio_net', 'vhost_net', 'kvm_intel'];

test.before(async () => {
  const path = await findKernelDeb();
  kernel = await extractDebianKernel(await readFile(path), path);
});

const pathOf = (name: string) =>
  [...kernel.modules.keys()].find((p) => new RegExp(`/${name.replace(/_/g, '[-_]')}\\.ko`).test(p))!;
// Where the selection carries a module: decompressed, under its .ko name.
const selectedPath = (name: string) => pathOf(name).replace(/\.ko\.(xz|zst|gz)$/, '.ko');

test('moduleInfo reads name and depends from the real modules, with - normalised to _', () => {
  const kvmIntel = moduleInfo(kernel.modules.get(pathOf('kvm_intel'))!);
  assert.is(kvmIntel.name, 'kvm_intel');
  assert.ok(kvmIntel.depends.includes('kvm'), kvmIntel.depends.join(','));
  const vhostNet = moduleInfo(kernel.modules.get(pathOf('vhost_net'))!);
  for (const dep of ['vhost', 'tun', 'tap'])
    assert.ok(vhostNet.depends.includes(dep), `vhost_net depends on ${vhostNet.depends}`);
  const libcrc32c = moduleInfo(kernel.modules.get(pathOf('libcrc32c'))!);
  assert.equal(libcrc32c.softdepPre, ['crc32c']);
});

test('the closure of virtio_blk, virtio_net, vhost_net and kvm_intel holds every dependency, each loaded before its users', async () => {
  const selection = await selectModules(kernel, WANTED);
  for (const name of [...WANTED, 'kvm', 'tun', 'tap', 'vhost', 'vhost_iotlb'])
    assert.ok(selection.loadOrder.includes(name), name);
  for (const [index, name] of selection.loadOrder.entries()) {
    const ko = selection.files.get(selectedPath(name))!;
    assert.is(ko.subarray(0, 4).toString('latin1'), '\x7fELF', `${name} is carried decompressed`);
    const info = moduleInfo(ko);
    for (const dep of info.depends)
      assert.ok(selection.loadOrder.indexOf(dep) < index && selection.loadOrder.includes(dep), `${dep} before ${name}`);
  }
  assert.equal(selection.builtin, []);
  const modules = [...selection.files.keys()].filter((p) => p.endsWith('.ko'));
  assert.is(modules.length, selection.loadOrder.length);
  for (const index of [
    'modules.dep',
    'modules.dep.bin',
    'modules.alias',
    'modules.alias.bin',
    'modules.symbols',
    'modules.symbols.bin',
    'modules.softdep',
    'modules.devname',
    'modules.builtin',
    'modules.builtin.bin',
    'modules.order',
  ]) {
    assert.ok(selection.files.has(index), index);
  }
  const dep = selection.files.get('modules.dep')!.toString('utf8');
  const line = dep.split('\n').find((l) => l.startsWith(`${selectedPath('virtio_blk')}:`));
  assert.ok(line, dep);
  assert.ok(line.includes('kernel/drivers/virtio/virtio.ko') || !pathOf('virtio'), line);
  assert.is(dep.trim().split('\n').length, modules.length);
  assert.match(selection.files.get('modules.devname')!.toString('utf8'), /vhost-net/);
  assert.is(selection.files.get('modules.order')!.toString('utf8').trim().split('\n').length, modules.length);
});

test('the indexes work with the real modprobe, and depmod gives the same bytes twice', async () => {
  const selection = await selectModules(kernel, WANTED);
  const again = await runDepmod(
    kernel.version,
    new Map(
      [...selection.files].filter(
        ([p]) => p.endsWith('.ko') || ['modules.builtin', 'modules.builtin.modinfo', 'modules.order'].includes(p),
      ),
    ),
  );
  assert.equal([...again.keys()], [...selection.files.keys()]);
  for (const [path, content] of selection.files)
    assert.ok(content.equals(again.get(path)!), `${path} differs between two depmod runs`);
  const root = await mkdtemp(join(tmpdir(), 'mvos-modprobe-'));
  try {
    for (const [path, content] of selection.files) {
      await mkdir(dirname(join(root, 'lib/modules', kernel.version, path)), { recursive: true });
      await writeFile(join(root, 'lib/modules', kernel.version, path), content);
    }
    const modprobe = ['/usr/sbin/modprobe', '/sbin/modprobe'].find((p) => existsSync(p)) ?? 'modprobe';
    const { stdout } = await runTool(modprobe, [
      '-d',
      root,
      '-S',
      kernel.version,
      '-C',
      join(root, 'none'),
      '--show-depends',
      'vhost-net',
    ]);
    const inserted = stdout
      .trim()
      .split('\n')
      .map((l) => l.replace(/^insmod \S*\/lib\/modules\/[^/]+\//, '').trim());
    assert.is(inserted.at(-1), pathOf('vhost_net'));
    for (const name of ['tun', 'tap', 'vhost']) assert.ok(inserted.includes(pathOf(name)), `${name} in ${stdout}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('built-in modules are reported, not failed; aliases resolve to their module', async () => {
  const firstBuiltin = kernel.modules.get('modules.builtin')!.toString('utf8').split('\n')[0]!;
  const name = firstBuiltin
    .slice(firstBuiltin.lastIndexOf('/') + 1)
    .replace(/\.ko$/, '')
    .replace(/-/g, '_');
  const selection = await selectModules(kernel, [name, 'fs-xfs']);
  assert.equal(selection.builtin, [name]);
  assert.ok(selection.loadOrder.includes('xfs'), selection.loadOrder.join(','));
});

test('an unknown module is a UserError naming it, with the closest names as a hint', async () => {
  try {
    await selectModules(kernel, ['virtio_blk', 'virtio-blck']);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as UserError).message, /has no module named virtio_blck$/);
    assert.match((error as UserError).hint!, /virtio_blck: did you mean virtio_blk/);
  }
});

test.run();
