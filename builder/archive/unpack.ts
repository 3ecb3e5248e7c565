// Unpacks a built initramfs (zstd, gzip or plain newc cpio) into a folder, once per content: a host image's root for
// running its agent on a build machine.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { pathExists } from '../../common/files.ts';

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function decompressor(file: string): Promise<string[]> {
  const handle = await open(file, 'r');
  const magic = Buffer.alloc(4);
  await handle.read(magic, 0, 4, 0);
  await handle.close();
  if (magic.readUInt32LE(0) === 0xfd2fb528) return ['zstd', '-dc'];
  if (magic[0] === 0x1f && magic[1] === 0x8b) return ['gzip', '-dc'];
  return ['cat'];
}

// Unpacks `initrd` under `cacheDir/<sha256>/` (done once; a half unpack is never reused) and returns that folder; older
// unpacks (a few hundred MiB each) are removed.
export async function unpackInitramfs(initrd: string, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, (await sha256(initrd)).slice(0, 32));
  const done = join(dir, '.unpacked');
  if (await pathExists(done)) return join(dir, 'root');
  const temporary = `${dir}.tmp-${process.pid}`;
  await rm(temporary, { recursive: true, force: true });
  await mkdir(join(temporary, 'root'), { recursive: true });
  const [tool, ...args] = await decompressor(initrd);
  // cpio as root would try to make device nodes; --no-absolute-filenames keeps every path inside the folder.
  await runTool(
    'sh',
    ['-c', `"$0" "$@" < "$INITRD" | cpio -idm --quiet --no-absolute-filenames --nonmatching 'dev/*'`, tool!, ...args],
    {
      cwd: join(temporary, 'root'),
      env: { INITRD: initrd, PATH: process.env.PATH ?? '/usr/bin:/bin' },
      timeoutMs: 300_000,
    },
  );
  await writeFile(join(temporary, '.unpacked'), `${initrd}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(temporary, dir);
  for (const other of await readdir(cacheDir)) {
    if (join(cacheDir, other) !== dir && !other.includes('.tmp-'))
      await rm(join(cacheDir, other), { recursive: true, force: true });
  }
  return join(dir, 'root');
}
