import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { ContentCache } from '../inputs/cache.ts';
import { pinOf, readLockfile } from '../inputs/lockfile.ts';
import { repoRoot } from '../pipeline/sources.ts';
import { extractFirmware, FIRMWARE_FILES } from './pinned.ts';
import { parseSignatureLists } from './siglist.ts';
import { readVarstore } from './varstore.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// A package made by dpkg-deb holding the given files (path → content, or { link } for a symlink).
async function makeDeb(dir: string, name: string, files: Record<string, Buffer | { link: string }>): Promise<Buffer> {
  const root = join(dir, name);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(
    join(root, 'DEBIAN/control'),
    `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: QA <qa@example.org>\nDescription: test\n`,
  );
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    if (Buffer.isBuffer(content)) await writeFile(join(root, path), content);
    else await symlink(content.link, join(root, path));
  }
  await runTool('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, join(dir, `${name}.deb`)]);
  return readFile(join(dir, `${name}.deb`));
}

test('every firmware file comes out of its package; symlinks inside the package are followed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-pinned-'));
  try {
    const ovmfFiles: Record<string, Buffer | { link: string }> = {};
    for (const [name, f] of Object.entries(FIRMWARE_FILES))
      if (f.package === 'ovmf') ovmfFiles[f.path] = Buffer.from(`bytes of ${name}`);
    // Debian ships the ms code as a link to the secboot one; make the secboot file itself a link to prove links
    // resolve.
    ovmfFiles['usr/share/OVMF/real-secboot.fd'] = Buffer.from('secboot code');
    ovmfFiles[FIRMWARE_FILES['ovmf-code-secboot'].path] = { link: 'real-secboot.fd' };
    const ovmf = await makeDeb(dir, 'ovmf', ovmfFiles);
    const seabios = await makeDeb(dir, 'seabios', { [FIRMWARE_FILES.seabios.path]: Buffer.from('bios') });
    const out = await extractFirmware({
      ovmf: { deb: ovmf, label: 'ovmf 1.0' },
      seabios: { deb: seabios, label: 'seabios 1.0' },
    });
    assert.equal(Object.keys(out).sort(), Object.keys(FIRMWARE_FILES).sort());
    assert.is(out['ovmf-code'].toString(), 'bytes of ovmf-code');
    assert.is(out['ovmf-code-secboot'].toString(), 'secboot code');
    assert.is(out.seabios.toString(), 'bios');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a package without one of the files is refused by name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-pinned-'));
  try {
    const ovmf = await makeDeb(dir, 'ovmf', { 'usr/share/OVMF/OVMF_CODE_4M.fd': Buffer.from('x') });
    const seabios = await makeDeb(dir, 'seabios', { [FIRMWARE_FILES.seabios.path]: Buffer.from('bios') });
    try {
      await extractFirmware({
        ovmf: { deb: ovmf, label: 'ovmf 9.9' },
        seabios: { deb: seabios, label: 'seabios 1.0' },
      });
      assert.unreachable('a missing firmware file must fail');
    } catch (error) {
      assert.instance(error, FailureError);
      assert.match((error as Error).message, 'ovmf 9.9 has no file /usr/share/OVMF/OVMF_CODE_4M.secboot.fd');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the pinned Debian packages give the same bytes as the installed ones of that version; the ms vars hold Microsoft's keys", async () => {
  const lock = readLockfile(join(repoRoot, 'recipes/host.lock.json'))!;
  const cache = ContentCache.fromEnvironment();
  const pins = { ovmf: pinOf(lock, 'ovmf'), seabios: pinOf(lock, 'seabios') };
  if (!cache.has(pins.ovmf.sha256) || !cache.has(pins.seabios.sha256))
    return console.log('  skipped: the pinned ovmf/seabios are not in the cache (run `mvos fetch recipes/host.yaml`)');
  const out = await extractFirmware({
    ovmf: { deb: await cache.read(pins.ovmf.sha256, 'ovmf'), label: 'ovmf' },
    seabios: { deb: await cache.read(pins.seabios.sha256, 'seabios'), label: 'seabios' },
  });
  assert.is(out['ovmf-vars'].length, 540672, '4M layout');
  const kek = readVarstore(out['ovmf-vars-ms']).variables.find((v) => v.name === 'KEK')!;
  assert.ok(parseSignatureLists(kek.data).some((e) => e.name === 'Microsoft Corporation KEK CA 2011'));
  for (const [name, f] of Object.entries(FIRMWARE_FILES)) {
    const installed = `/${f.path}`;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Version} is dpkg-query's format field, not a template
    const version = await runTool('dpkg-query', ['-W', '-f', '${Version}', f.package], { allowFailure: true });
    if (!existsSync(installed) || version.stdout.trim() !== pins[f.package].version) continue;
    assert.is(sha(out[name as keyof typeof out]), sha(readFileSync(installed)), `${name} matches ${installed}`);
  }
});

test.run();
