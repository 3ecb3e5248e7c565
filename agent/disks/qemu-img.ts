// The qemu-img steps the agent's disk code needs (create, inspect, check, rebase), each one tool run through runTool.
import { dirname } from 'node:path';
import { runTool } from '../../common/exec.ts';

// A disk format QEMU reads: qcow2 layers, raw (or EROFS-in-raw) base images.
export type DiskFormat = 'qcow2' | 'raw';

// One image of a backing chain as qemu-img reports it (top first).
export interface ChainLink {
  filename: string;
  format: string;
  virtualSize: number;
  backingFilename?: string;
  fullBackingFilename?: string;
  backingFormat?: string;
}

const TIMEOUT_MS = 10 * 60_000;

// Creates a qcow2 layer over backing (a name relative to the layer's folder, or an absolute path); -u skips opening the
// backing, so this works while a running QEMU holds it locked (the virtual size must then be given).
export async function createLayer(
  path: string,
  backing: { file: string; format: DiskFormat } | undefined,
  sizeBytes?: number,
): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2'];
  if (backing) args.push('-b', backing.file, '-F', backing.format);
  if (backing && sizeBytes !== undefined) args.push('-u');
  args.push(path);
  if (sizeBytes !== undefined) args.push(String(sizeBytes));
  await runTool('qemu-img', args, { cwd: dirname(path), timeoutMs: TIMEOUT_MS });
}

// The image's backing chain, top first; `shared` reads it while a QEMU holds the images (-U).
export async function backingChain(path: string, options: { shared?: boolean } = {}): Promise<ChainLink[]> {
  const args = ['info', '--backing-chain', '--output=json'];
  if (options.shared) args.push('-U');
  const { stdout } = await runTool('qemu-img', [...args, path], { cwd: dirname(path), timeoutMs: TIMEOUT_MS });
  const parsed = JSON.parse(stdout) as Array<Record<string, unknown>>;
  return parsed.map((entry) => ({
    filename: String(entry.filename),
    format: String(entry.format),
    virtualSize: Number(entry['virtual-size']),
    backingFilename: entry['backing-filename'] as string | undefined,
    fullBackingFilename: entry['full-backing-filename'] as string | undefined,
    backingFormat: entry['backing-filename-format'] as string | undefined,
  }));
}

// Result of `qemu-img check`: clean, only leaked clusters (harmless space), leaks freed by the repair, corrupt, in use
// (a running QEMU holds its lock: says nothing about its state), or unreadable (not an image, missing).
export type CheckResult = { state: 'clean' | 'leaks' | 'repaired' | 'corrupt' | 'busy' | 'unreadable'; detail: string };

// Checks a qcow2 image; with repair, leaked clusters (what a crash in the middle of a write leaves) are freed; `shared`
// checks an image whose backing chain a running QEMU holds (-U, read-only).
export async function checkImage(
  path: string,
  options: { repair?: boolean; shared?: boolean } = {},
): Promise<CheckResult> {
  const args = ['check', '-f', 'qcow2'];
  if (options.repair) args.push('-r', 'leaks');
  else if (options.shared) args.push('-U');
  const { exitCode, stdout, stderr } = await runTool('qemu-img', [...args, path], {
    allowFailure: true,
    timeoutMs: TIMEOUT_MS,
  });
  const detail = `${stdout}${stderr}`.trim();
  // qemu-img check: 0 clean, 2 corruption, 3 leaks only, 1 could not check (not an image, unreadable).
  const repaired = exitCode === 0 && detail.includes('found and repaired');
  const busy = exitCode === 1 && /Failed to get .*lock/.test(detail);
  const state = repaired
    ? 'repaired'
    : exitCode === 0
      ? 'clean'
      : exitCode === 3
        ? 'leaks'
        : exitCode === 2
          ? 'corrupt'
          : busy
            ? 'busy'
            : 'unreadable';
  return { state, detail };
}

// Makes path read its current contents through a new backing file: copies into it every cluster where the old and the
// new backing differ, then rewrites its header. A crash before the header write leaves it on the old backing, intact.
// Without a backing, every cluster the chain provides is copied in and the image stands alone.
export async function rebaseLayer(
  path: string,
  backing: { file: string; format: DiskFormat } | undefined,
): Promise<void> {
  const target = backing ? ['-b', backing.file, '-F', backing.format] : ['-b', ''];
  // Writethrough: by default qemu-img writes the new backing name into the header before it flushes the L2 tables
  // of the clusters it copied, so a kill in between leaves a layer that names its new backing but has lost the data.
  await runTool('qemu-img', ['rebase', '-q', '-t', 'writethrough', '-f', 'qcow2', ...target, path], {
    cwd: dirname(path),
    timeoutMs: TIMEOUT_MS,
  });
}
