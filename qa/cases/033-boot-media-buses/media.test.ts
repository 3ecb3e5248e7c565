// The raw GPT disk boots the host to agent ready from every other bus a machine may have it on, through real firmware:
// virtio-blk, NVMe and a USB stick, under SeaBIOS and OVMF each (the sweep beside scenario 005's SATA disk and ISO).
import { test } from 'uvu';
import { mediaBootTests } from '../../lib/media-boot.ts';

mediaBootTests('033', [
  ['raw', 'bios', 'virtio'],
  ['raw', 'uefi', 'virtio'],
  ['raw', 'bios', 'nvme'],
  ['raw', 'uefi', 'nvme'],
  ['raw', 'bios', 'usb'],
  ['raw', 'uefi', 'usb'],
]);

test.run();
