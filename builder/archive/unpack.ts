// Unpacks a built initramfs (zstd, gzip or plain newc cpio, one archive or several, and the /usr image in it) into a
// folder, once per content: a host image's root for running its agent on a build machine.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { pathExists } from '../../common/files.ts';
import { USR_IMAGE_PATH } from '../rootfs/squashfs.ts';
import { type Compression, decompress } from './compress.ts';
import { splitNewcArchives } from './cpio.ts';

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// The compression of an initrd by its first bytes; segments of one initrd share it.
function compressionOf(head: Buffer): Compression {
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  return 'none';
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
  const packed = await readFile(initrd);
  // An initramfs of several segments is several archives: GNU cpio stops at the first trailer, so each gets its run.
  for (const archive of splitNewcArchives(await decompress(packed, compressionOf(packed)))) {
    // cpio as root would try to make device nodes; --no-absolute-filenames keeps every path inside the folder.
    await runTool('cpio', ['-idm', '--quiet', '--no-absolute-filenames', '--nonmatching', 'dev/*'], {
      cwd: join(temporary, 'root'),
      input: archive,
      timeoutMs: 300_000,
    });
  }
  // A /usr image (initramfs.usrImage) is what init mounts under /usr: its files join the unpacked /usr, as on the host.
  const usrImage = join(temporary, 'root', USR_IMAGE_PATH);
  if (await pathExists(usrImage)) {
    await runTool('unsquashfs', ['-f', '-no-progress', '-no-xattrs', '-d', join(temporary, 'root', 'usr'), usrImage], {
      timeoutMs: 300_000,
    });
    await rm(usrImage);
  }
  await writeFile(join(temporary, '.unpacked'), `${initrd}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(temporary, dir);
  for (const other of await readdir(cacheDir)) {
    if (join(cacheDir, other) !== dir && !other.includes('.tmp-'))
      await rm(join(cacheDir, other), { recursive: true, force: true });
  }
  return join(dir, 'root');
}
