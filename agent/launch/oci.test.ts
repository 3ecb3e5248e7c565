import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { refused } from '../../common/refused.test-support.ts';
import { withTempDir } from '../../common/temp-dir.ts';
import { unpackOciImage } from './oci.ts';
import { configDisk, runConfig } from './oci-config.ts';
import { dockerArchive, layerTar, type Member, writeLayout } from './oci-images.test-support.ts';
import { containerEnd } from './oci-launch.ts';
import { applyLayer } from './oci-layers.ts';

const BUSYBOX = await readFile('/bin/busybox');

const LOWER: Member[] = [
  { name: 'bin', type: 'directory' },
  { name: 'bin/busybox', content: BUSYBOX, mode: 0o755 },
  { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
  { name: 'bin/su', content: 'setuid', mode: 0o4755 },
  { name: 'etc', type: 'directory' },
  { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n' },
  { name: 'etc/group', content: 'root:x:0:\nstaff:x:50:\n' },
  { name: 'etc/removed', content: 'gone in layer 2' },
  { name: 'opq', type: 'directory' },
  { name: 'opq/old-a', content: 'a' },
  { name: 'opq/sub', type: 'directory' },
  { name: 'opq/sub/old-b', content: 'b' },
  { name: 'home/app/notes', content: 'owned by app', uid: 1000, gid: 1001 },
  { name: 'dev/null', type: 'character-device' },
];

const UPPER: Member[] = [
  { name: 'etc/.wh.removed' },
  { name: 'opq/.wh..wh..opq' },
  { name: 'opq/new', content: 'from layer 2' },
  { name: 'bin/ls', type: 'link', linkname: 'bin/busybox' },
  { name: 'etc/motd', content: 'hello' },
];

const SETTINGS = {
  Entrypoint: ['/bin/sh', '-c'],
  Cmd: ['echo "a  b"; exit 3'],
  Env: ['GREETING=hi there', 'PATH=/bin'],
  WorkingDir: '/home/app',
  User: 'app',
};

async function extractErofs(image: string, out: string): Promise<void> {
  await runTool('fsck.erofs', [`--extract=${out}`, '--preserve', image]);
}

test('an OCI layout with two layers (one gzip) unpacks to an EROFS root: whiteouts, opaque folders, links, modes, owners', () =>
  withTempDir('mvos-oci-test-', async (dir) => {
    await writeLayout(join(dir, 'layout'), [await layerTar(LOWER), await layerTar(UPPER)], SETTINGS, [false, true]);
    const unpacked = await unpackOciImage(join(dir, 'layout'), join(dir, 'out'));
    assert.equal(
      unpacked.layers.map((l) => l.skipped),
      [['dev/null'], []],
    );
    await extractErofs(unpacked.rootfs, join(dir, 'tree'));
    const t = (p: string) => join(dir, 'tree', p);
    assert.ok((await readFile(t('bin/busybox'))).equals(BUSYBOX));
    assert.is(await readlink(t('bin/sh')), 'busybox');
    assert.is((await lstat(t('bin/ls'))).size, BUSYBOX.length, 'hard link carries the content');
    assert.not.ok(existsSync(t('etc/removed')), '.wh.removed deleted the lower file');
    assert.is(await readFile(t('etc/motd'), 'utf8'), 'hello');
    assert.not.ok(existsSync(t('opq/old-a')), 'opaque folder hides lower files');
    assert.not.ok(existsSync(t('opq/sub')), 'and lower folders');
    assert.is(await readFile(t('opq/new'), 'utf8'), 'from layer 2', 'but keeps what its own layer adds');
    assert.is((await lstat(t('home/app/notes'))).uid, 1000, 'owners kept (unpacking as root)');
    assert.is(await readFile(t('bin/su'), 'utf8'), 'setuid');
    const dump = (await runTool('dump.erofs', ['--path=/bin/busybox', unpacked.rootfs])).stdout;
    assert.match(dump, /Access: 0755/);
    assert.equal(unpacked.run, {
      argv: ['/bin/sh', '-c', 'echo "a  b"; exit 3'],
      env: ['GREETING=hi there', 'PATH=/bin'],
      workingDir: '/home/app',
      user: 'app',
      uid: 1000,
      gid: 1001,
    });
    assert.equal(JSON.parse(await readFile(unpacked.runConfigFile, 'utf8')).argv, unpacked.run.argv);
  }));

test('the same image unpacks to the same bytes; a docker save archive of it gives the same tree', () =>
  withTempDir('mvos-oci-test-', async (dir) => {
    const layers = [await layerTar(LOWER), await layerTar(UPPER)];
    await writeLayout(join(dir, 'layout'), layers, SETTINGS);
    const a = await unpackOciImage(join(dir, 'layout'), join(dir, 'a'));
    const b = await unpackOciImage(join(dir, 'layout'), join(dir, 'b'));
    assert.ok((await readFile(a.rootfs)).equals(await readFile(b.rootfs)), 'byte-identical root images');
    await writeFile(join(dir, 'saved.tar'), await dockerArchive(layers, SETTINGS));
    const saved = await unpackOciImage(join(dir, 'saved.tar'), join(dir, 'c'));
    await extractErofs(saved.rootfs, join(dir, 'tree'));
    assert.is(await readFile(join(dir, 'tree/opq/new'), 'utf8'), 'from layer 2');
    assert.not.ok(existsSync(join(dir, 'tree/etc/removed')));
    assert.equal(saved.run.argv, a.run.argv);
  }));

test('a blob that does not match its digest, or a layer that does not match its diff_id, is refused', () =>
  withTempDir('mvos-oci-test-', async (dir) => {
    const { blobs } = await writeLayout(join(dir, 'layout'), [await layerTar(LOWER)], SETTINGS);
    const blob = await readFile(blobs[0]!);
    blob[600] = blob.readUInt8(600) ^ 1;
    await writeFile(blobs[0]!, blob);
    assert.match(
      await refused(unpackOciImage(join(dir, 'layout'), join(dir, 'out'))),
      /layer 1 does not match its digest/,
    );
    const other = await layerTar([{ name: 'x', content: 'not the promised layer' }]);
    const archive = await dockerArchive([await layerTar(LOWER)], SETTINGS);
    await writeFile(join(dir, 'saved.tar'), archive);
    await mkdir(join(dir, 'unpacked'));
    await runTool('tar', ['-xf', join(dir, 'saved.tar'), '-C', join(dir, 'unpacked')]);
    await writeFile(join(dir, 'unpacked/layer0/layer.tar'), other);
    assert.match(await refused(unpackOciImage(join(dir, 'unpacked'), join(dir, 'out2'))), /does not match its diff_id/);
    assert.not.ok(existsSync(join(dir, 'out2/rootfs.erofs')), 'nothing is left behind');
  }));

test('path traversal is refused: ../ members, absolute members, symlink escapes, hard links out, archive members out', () =>
  withTempDir('mvos-oci-test-', async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    const apply = async (members: Member[]) =>
      applyLayer(root, Readable.from(await layerTar(members)), { owners: 'keep', dirModes: new Map() });
    assert.match(await refused(apply([{ name: '../evil', content: 'x' }])), /climbs out with '\.\.'.*path traversal/);
    assert.match(await refused(apply([{ name: 'a/../../evil', content: 'x' }])), /path traversal/);
    assert.match(await refused(apply([{ name: '/etc/evil', content: 'x' }])), /absolute path/);
    await apply([{ name: 'up', type: 'symlink', linkname: `../../../../..${dir}` }]);
    assert.match(await refused(apply([{ name: 'up/pwned', content: 'x' }])), /symlink escape/);
    assert.not.ok(existsSync(join(dir, 'pwned')));
    assert.match(await refused(apply([{ name: 'hl', type: 'link', linkname: '../outside' }])), /path traversal/);
    // An absolute symlink means the image's own /etc, never the host's.
    await apply([
      { name: 'etc', type: 'directory' },
      { name: 'etc2', type: 'symlink', linkname: '/etc' },
      { name: 'etc2/inside', content: 'ok' },
    ]);
    assert.is(await readFile(join(root, 'etc/inside'), 'utf8'), 'ok');
    assert.not.ok(existsSync('/etc/inside'));
    const saved = await dockerArchive([await layerTar(LOWER)], SETTINGS, [{ name: '../../escaped', content: 'x' }]);
    await writeFile(join(dir, 'evil.tar'), saved);
    assert.match(
      await refused(unpackOciImage(join(dir, 'evil.tar'), join(dir, 'out'))),
      /archive member.*path traversal/,
    );
    const linked = await dockerArchive([await layerTar(LOWER)], SETTINGS, [
      { name: 'link', type: 'symlink', linkname: '../../etc/shadow' },
    ]);
    await writeFile(join(dir, 'evil2.tar'), linked);
    assert.match(
      await refused(unpackOciImage(join(dir, 'evil2.tar'), join(dir, 'out'))),
      /archive symlink target.*path traversal/,
    );
  }));

test('an unprivileged unpack fills read-only folders of lower layers and still gives them their modes; owners become root', () =>
  withTempDir('mvos-oci-test-', async (dir) => {
    await chmod(dir, 0o777);
    const lower = await layerTar([
      { name: 'ro', type: 'directory', mode: 0o555 },
      { name: 'ro/a', content: 'a' },
      { name: 'keep', type: 'directory', mode: 0o700 },
      { name: 'keep/x', content: 'x', uid: 1000 },
    ]);
    const upper = await layerTar([{ name: 'ro/b', content: 'b' }, { name: 'ro/.wh.a' }]);
    await writeLayout(join(dir, 'layout'), [lower, upper], { ...SETTINGS, User: '' });
    const code = `const { unpackOciImage } = await import(${JSON.stringify(new URL('./oci.ts', import.meta.url).pathname)}); await unpackOciImage(${JSON.stringify(join(dir, 'layout'))}, ${JSON.stringify(join(dir, 'out'))});`;
    await runTool(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        code,
      ],
      { cwd: new URL('../..', import.meta.url).pathname },
    );
    const image = join(dir, 'out/rootfs.erofs');
    const show = async (path: string) => (await runTool('dump.erofs', [`--path=${path}`, image])).stdout;
    assert.match(await show('/ro'), /Access: 0555/);
    assert.match(await show('/keep'), /Access: 0700/);
    assert.match(await show('/ro/b'), /Uid: 0\s+Gid: 0/);
    assert.match(await show('/keep/x'), /Uid: 0\s+Gid: 0/, "no chown without root: everything is root's");
    assert.not.match(
      (await runTool('dump.erofs', ['--path=/ro/a', image], { allowFailure: true })).stdout,
      /NID/,
      'the whiteout still applied',
    );
  }));

test('run config: overrides as docker run applies them, PATH default, config disk keeps every byte of every argument', () => {
  const config = { config: { Entrypoint: ['/entry'], Cmd: ['default'], Env: ['A=1'] } };
  assert.equal(runConfig(config).argv, ['/entry', 'default']);
  assert.equal(runConfig(config, { cmd: ['x', 'y'] }).argv, ['/entry', 'x', 'y']);
  assert.equal(runConfig(config, { entrypoint: ['/other'] }).argv, ['/other'], 'a new entrypoint drops the image Cmd');
  assert.equal(runConfig(config, { env: ['A=2', 'B=3'] }).env, [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'A=2',
    'B=3',
  ]);
  assert.throws(() => runConfig({ config: {} }), /neither Entrypoint nor Cmd/);
  const tricky = ['it\'s "quoted"', '  spaces  ', '$(reboot) `x` *', 'line\nbreak\n', ''];
  const disk = configDisk({ argv: tricky, env: ['X=a b'], workingDir: '/w d', user: '', uid: 0, gid: 0 });
  assert.is(disk.length % 512, 0);
  const lines = disk.toString('utf8').replace(/\0+$/, '').split('\n');
  assert.is(lines[0], 'MVOS-CONTAINER 1');
  const args = lines.filter((l) => l.startsWith('arg ')).map((l) => Buffer.from(l.slice(4), 'base64').toString('utf8'));
  assert.equal(args, tricky);
  assert.ok(
    lines.every((l) => /^[\x20-\x7e]*$/.test(l)),
    'only printable ASCII reaches the shell that reads it',
  );
});

test("the container init's last line reads back as an exit code or a failure", () => {
  assert.equal(containerEnd('boot noise\r\nhello\r\nMVOS-CONTAINER-EXIT 42\r\nreboot: Power down\r\n'), {
    exitCode: 42,
  });
  assert.equal(containerEnd('MVOS-CONTAINER-FAILED root image unreadable\n'), { failed: 'root image unreadable' });
  assert.is(containerEnd('echo MVOS-CONTAINER-EXIT 1 from inside a line\n'), undefined, 'only a whole line counts');
  assert.is(containerEnd('still running\n'), undefined);
  assert.equal(
    containerEnd('MVOS-CONTAINER-EXIT 0\nMVOS-CONTAINER-EXIT 9\n'),
    { exitCode: 9 },
    'a container printing the marker itself comes first; the init speaks last',
  );
});

test.run();
