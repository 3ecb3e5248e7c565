// A folder laid out like a fresh raw disk's ESP: slot a with 0.1.0, slot b empty, GRUB's environment booting a.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { grubEnv, slotConfig } from '../../common/update/slots.ts';

// Makes the folder's ESP tree.
export function makeTestEsp(esp: string): void {
  for (const dir of [join(esp, 'boot/a'), join(esp, 'boot/grub')]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(esp, 'boot/a/vmlinuz'), 'kernel 1');
  writeFileSync(join(esp, 'boot/a/initrd'), 'initrd 1');
  writeFileSync(join(esp, 'boot/a/slot.cfg'), slotConfig('0.1.0', 'console=ttyS0'));
  writeFileSync(join(esp, 'boot/grub/grubenv'), grubEnv({ boot_tries: '0', boot_slot: 'a', try_slot: '' }));
}
