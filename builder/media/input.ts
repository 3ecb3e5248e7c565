// What every media writer reads: the built kernel and initrd, the boot settings, and a content id for GUIDs, serials
// and tags.
import { createHash } from 'node:crypto';

// One image's boot payload and settings.
export interface MediaInput {
  name: string;
  version: string;
  vmlinuz: Buffer;
  initrd: Buffer;
  cmdline: string;
  boot: { attempts: number; menuTimeout: number };
  stateLabel: string;
  sourceDateEpoch: number;
  // Secure Boot: the db-signed UKI the UEFI path boots instead of GRUB, so firmware checks kernel, initramfs and
  // command line.
  uki?: Buffer;
  // sha256 (hex) of everything above: the seed of every GUID, serial and tag, so the same inputs give the same bytes.
  id: string;
}

// The content id of a media input (vmlinuz, initrd and a signed UKI by hash).
export function mediaId(parts: {
  name: string;
  version: string;
  vmlinuz: string;
  initrd: string;
  cmdline: string;
  boot: unknown;
  stateLabel: string;
  sourceDateEpoch: number;
  uki?: string;
}): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

// The tag file GRUB's early config searches for: unique per image content, so another mvos medium in the machine is not
// taken.
export function mediaTag(input: MediaInput): string {
  return `mvos/${input.name}-${input.id.slice(0, 16)}`;
}

// A FAT volume serial from the content id.
export function fatSerial(input: MediaInput, salt: string): string {
  return createHash('sha256').update(`${input.id}:${salt}`).digest('hex').slice(0, 8);
}
