// Where this boot's A/B slots are on the host: the slot from the kernel command line (GRUB's `mvos.slot=a|b`, or
// `efi` on a Secure Boot host's UKI, whose slot the firmware's variables chose) and the ESP it came from, by label.
import { EFI_SLOT_ARG, type Slot } from '../../common/update/slots.ts';
import { EFIVARS_DIR, EfiVars, sysfsPartition, UefiBoot } from './efi-boot.ts';
import { bootedSlot, type EspSource, isBootedEsp, labelledEsp } from './esp.ts';
import type { UpdateServiceOptions } from './service.ts';

// The service's options for the slots (none when this boot did not come from a disk with slots).
export async function hostSlotOptions(
  host: string,
  version: string,
  runDir: string,
  given?: Slot | typeof EFI_SLOT_ARG,
  esp?: EspSource,
): Promise<Pick<UpdateServiceOptions, 'booted' | 'layout' | 'selector' | 'esp'>> {
  const slot = given ?? (await bootedSlot());
  if (!slot) return esp ? { esp } : {};
  const uki = slot === EFI_SLOT_ARG;
  const booted = uki ? undefined : slot;
  return {
    ...(booted ? { booted } : {}),
    ...(uki ? { layout: 'uki' as const, selector: new UefiBoot(new EfiVars(EFIVARS_DIR), host, sysfsPartition) } : {}),
    esp: esp ?? labelledEsp(runDir, (dir) => isBootedEsp(dir, host, booted, version)),
  };
}
