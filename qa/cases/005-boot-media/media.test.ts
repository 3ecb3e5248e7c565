// Each medium the default build writes boots the host to agent ready through real firmware, the way a machine would:
// the hybrid ISO as a CD (SeaBIOS and OVMF) and as a USB stick (OVMF), the raw GPT disk as a SATA disk (SeaBIOS and
// OVMF). The raw disk on the other buses (virtio-blk, NVMe, USB) is scenario 033, in test:slow.
import { test } from 'uvu';
import { mediaBootTests } from '../../lib/media-boot.ts';

mediaBootTests('005', [
  ['iso', 'bios', 'cd'],
  ['iso', 'uefi', 'cd'],
  ['iso', 'uefi', 'usb'],
  ['raw', 'bios', 'disk'],
  ['raw', 'uefi', 'disk'],
]);

test.run();
