// A folder laid out like a fresh raw disk's ESP (slot a with 0.1.0, slot b empty, GRUB's environment booting a), and
// the update service of a multiverse-host 0.1.0 booted from it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { grubEnv, slotConfig } from '../../common/update/slots.ts';
import { folderEsp } from './esp.ts';
import { UpdateService, type UpdateServiceOptions } from './service.ts';

// Makes the folder's ESP tree.
export function makeTestEsp(esp: string): void {
  for (const dir of [join(esp, 'boot/a'), join(esp, 'boot/grub'), join(esp, 'mvos')])
    mkdirSync(dir, { recursive: true });
  writeFileSync(join(esp, 'mvos/multiverse-host-0123456789abcdef'), 'multiverse-host 0.1.0\n');
  writeFileSync(join(esp, 'boot/a/vmlinuz'), 'kernel 1');
  writeFileSync(join(esp, 'boot/a/initrd'), 'initrd 1');
  writeFileSync(join(esp, 'boot/a/slot.cfg'), slotConfig('0.1.0', 'console=ttyS0'));
  writeFileSync(join(esp, 'boot/grub/grubenv'), grubEnv({ boot_tries: '0', boot_slot: 'a', try_slot: '' }));
}

// The service of a host booted from slot a of `root`/esp (made when missing), trusting `publicLine`, its state in
// `root`/state.
export function testUpdateService(
  root: string,
  publicLine: string,
  over: Partial<UpdateServiceOptions> = {},
): Promise<UpdateService> {
  makeTestEsp(join(root, 'esp'));
  return UpdateService.open({
    config: { publicKey: publicLine, deadline: 300, require: [] },
    host: 'multiverse-host',
    version: '0.1.0',
    stateDir: join(root, 'state'),
    runDir: root,
    esp: folderEsp(join(root, 'esp')),
    booted: 'a',
    log: () => undefined,
    ...over,
  });
}
