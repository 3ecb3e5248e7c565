// Updates for a host with no network: a USB stick or a disk labelled MVOS-UPDATE carrying bundles (*.mvu at its top).
// The agent looks for the label every few seconds, mounts it read-only, and applies the newest bundle on it that is
// for this host, newer than what runs and has not failed here; then the host reboots into it. A medium left in is
// never applied twice, and a bundle that is refused is named once in the records.
import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { SerialQueue } from '../../common/serial-queue.ts';
import { compareVersions, MAX_BUNDLE_BYTES, peekManifest } from '../../common/update/bundle.ts';
import type { UpdateService } from './service.ts';

// The volume label a medium with bundles carries.
export const MEDIUM_LABEL = 'MVOS-UPDATE';
// The most bundle files one medium may offer (each is opened to read its manifest).
const MAX_FILES = 16;
const POLL_MS = 3000;

// Where the medium comes from: mounted by label on the host, a folder in tests; `use` runs work with it mounted and
// answers undefined when there is none.
export interface MediumSource {
  use<T>(work: (dir: string) => Promise<T>): Promise<T | undefined>;
}

// The partition labelled MVOS-UPDATE, mounted read-only (no exec, no device files, no setuid) under runDir.
export function labelledMedium(runDir: string, label = MEDIUM_LABEL): MediumSource {
  const dir = join(runDir, 'update-medium');
  const queue = new SerialQueue();
  return {
    use: (work) =>
      queue.run(async () => {
        const device = (await runTool('findfs', [`LABEL=${label}`]).catch(() => undefined))?.stdout.trim();
        if (!device) return undefined;
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await runTool('mount', ['-o', 'ro,nosuid,nodev,noexec', device, dir]);
        try {
          return await work(dir);
        } finally {
          await runTool('umount', [dir]).catch(() => runTool('umount', ['-l', dir]));
        }
      }),
  };
}

// A folder standing in for a medium (tests): present while it exists.
export function folderMedium(dir: string): MediumSource {
  return { use: async (work) => ((await stat(dir).catch(() => undefined)) ? work(dir) : undefined) };
}

// Looks for the medium while the agent runs.
export class MediumWatch {
  private timer?: NodeJS.Timeout;
  // Files already looked at this boot (name, size, time): a medium left in is read once.
  private readonly seen = new Set<string>();
  private stopped = false;

  constructor(
    private readonly medium: MediumSource,
    private readonly service: UpdateService,
    private readonly log: (line: string) => void,
    private readonly intervalMs = POLL_MS,
  ) {}

  start(): void {
    const tick = async (): Promise<void> => {
      await this.check().catch((error: Error) => this.log(`update medium: ${error.message}`));
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.intervalMs);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  // One look: the bundles worth applying, newest first (by name among equals), until one is applied.
  async check(): Promise<void> {
    await this.medium.use(async (dir) => {
      const names = (await readdir(dir))
        .filter((n) => n.endsWith('.mvu'))
        .sort()
        .slice(0, MAX_FILES);
      const candidates: Array<{ name: string; file: string; version: string }> = [];
      for (const name of names) {
        const file = join(dir, name);
        const info = await stat(file);
        const key = `${name}:${info.size}:${info.mtimeMs}`;
        if (!info.isFile() || info.size > MAX_BUNDLE_BYTES || this.seen.has(key)) continue;
        this.seen.add(key);
        const manifest = await peekManifest(createReadStream(file, { end: 64 * 1024 + 1024 }));
        if (!manifest) {
          this.log(`update medium: ${name} is not a bundle`);
          continue;
        }
        const skip = this.service.skipReason(manifest);
        if (skip) this.log(`update medium: ${name} (${manifest.version}) is left alone: ${skip}`);
        else candidates.push({ name, file, version: manifest.version });
      }
      candidates.sort((x, y) => compareVersions(y.version, x.version) || x.name.localeCompare(y.name));
      for (const candidate of candidates) {
        this.log(`update medium: applying ${candidate.name} (${candidate.version})`);
        try {
          await this.service.apply(createReadStream(candidate.file), 'medium', this.service.canReboot);
          return;
        } catch (error) {
          const reason = (error as Error).message;
          this.log(`update medium: ${candidate.name} refused: ${reason}`);
          await this.service.note({
            event: 'medium refused',
            version: candidate.version,
            by: 'medium',
            detail: reason,
          });
        }
      }
    });
  }
}
