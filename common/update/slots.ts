// The A/B slot format of writable boot media, shared by the builder (which writes slot a) and the agent (which writes
// the other slot and flips the environment): boot/<slot>/{vmlinuz,initrd,slot.cfg} on the ESP and GRUB's 1024-byte
// environment block boot/grub/grubenv (boot_tries, boot_slot, try_slot); on Secure Boot hosts a signed UKI a slot
// (UKI_PATHS) and the firmware's boot variables instead of GRUB's.

// The two slots.
export const SLOTS = ['a', 'b'] as const;
export type Slot = (typeof SLOTS)[number];

// Where each slot's signed UKI lies on a Secure Boot host's ESP: slot a is the removable-media path the firmware boots
// when it has no option of ours (the build writes it), slot b a file beside GRUB's slot folders. Each slot's slot.cfg
// stays in boot/<slot>/.
export const UKI_PATHS: Readonly<Record<Slot, string>> = { a: 'EFI/BOOT/BOOTX64.EFI', b: 'boot/b/uki.efi' };

// What `mvos.slot=` says on a UKI's command line: the firmware chose the slot (its variables say which).
export const EFI_SLOT_ARG = 'efi';

// The size GRUB's save_env needs: it rewrites the block in place by its block list, so the file never changes size.
export const GRUBENV_BYTES = 1024;
const GRUBENV_HEADER = '# GRUB Environment Block\n';

// The slot that is not `slot`.
export function otherSlot(slot: Slot): Slot {
  return slot === 'a' ? 'b' : 'a';
}

// Whether a string names a slot.
export function isSlot(value: unknown): value is Slot {
  return value === 'a' || value === 'b';
}

// A slot's slot.cfg: its version and kernel command line, as GRUB variables (grub.cfg sources it).
export function slotConfig(version: string, cmdline: string): string {
  for (const [what, value] of [
    ['version', version],
    ['cmdline', cmdline],
  ] as const)
    if (/["$\\\n`]/.test(value)) throw new Error(`a slot's ${what} cannot hold quotes, $, \\ or newlines: ${value}`);
  return `set slot_version="${version}"\nset slot_cmdline="${cmdline}"\n`;
}

// Reads slot.cfg back (undefined when it is not one slotConfig wrote).
export function parseSlotConfig(text: string): { version: string; cmdline: string } | undefined {
  const match = /^set slot_version="([^"$\\`\n]*)"\nset slot_cmdline="([^"$\\`\n]*)"\n$/.exec(text);
  return match ? { version: match[1]!, cmdline: match[2]! } : undefined;
}

// A 1024-byte GRUB environment block.
export function grubEnv(vars: Record<string, string>): Buffer {
  const text = `${GRUBENV_HEADER}${Object.entries(vars)
    .map(([k, v]) => {
      if (!/^\w+$/.test(k) || /[\n\\]/.test(v)) throw new Error(`grubenv: cannot hold ${k}=${v}`);
      return `${k}=${v}\n`;
    })
    .join('')}`;
  if (text.length > GRUBENV_BYTES) throw new Error(`grubenv: more than ${GRUBENV_BYTES} bytes`);
  return Buffer.from(text.padEnd(GRUBENV_BYTES, '#'), 'latin1');
}

// Reads an environment block; throws when it is not one (wrong size or header), which the agent never overwrites.
export function parseGrubEnv(block: Buffer): Record<string, string> {
  const text = block.toString('latin1');
  if (block.length !== GRUBENV_BYTES || !text.startsWith(GRUBENV_HEADER))
    throw new Error(`not a GRUB environment block (${block.length} bytes)`);
  const vars: Record<string, string> = {};
  for (const line of text.slice(GRUBENV_HEADER.length).split('\n')) {
    const match = /^(\w+)=(.*)$/.exec(line);
    if (match) vars[match[1]!] = match[2]!;
  }
  return vars;
}
