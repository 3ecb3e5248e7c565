// Human-readable summaries of the variables a boot setup cares about: boot order, boot options, timeout, Secure Boot
// state and keys.
import { GUIDS } from '../../common/efi/guid.ts';
import { type LoadOption, parseLoadOption } from '../../common/efi/load-option.ts';
import { parseSignatureLists, type SignatureEntry } from './siglist.ts';
import type { EfiVariable } from './varstore.ts';

// What a variable's data means, when we know its kind.
export type Decoded =
  | { kind: 'boot-order'; order: string[] }
  | { kind: 'load-option'; option: LoadOption }
  | { kind: 'timeout'; seconds: number }
  | { kind: 'flag'; value: number }
  | { kind: 'signatures'; entries: SignatureEntry[] };

// Decodes a variable the firmware gives meaning to, or returns undefined.
export function decodeVariable(v: EfiVariable): Decoded | undefined {
  if (v.guid === GUIDS.globalVariable) {
    if (v.name === 'BootOrder' || v.name === 'DriverOrder') {
      const order: string[] = [];
      for (let i = 0; i + 1 < v.data.length; i += 2)
        order.push(v.data.readUInt16LE(i).toString(16).toUpperCase().padStart(4, '0'));
      return { kind: 'boot-order', order };
    }
    if (/^(Boot|Driver|SysPrep)[0-9A-F]{4}$/.test(v.name))
      return { kind: 'load-option', option: parseLoadOption(v.data) };
    if (v.name === 'Timeout' && v.data.length === 2) return { kind: 'timeout', seconds: v.data.readUInt16LE(0) };
    if (v.name === 'PK' || v.name === 'KEK') return { kind: 'signatures', entries: parseSignatureLists(v.data) };
    if (['SecureBoot', 'SetupMode', 'AuditMode', 'DeployedMode'].includes(v.name) && v.data.length === 1)
      return { kind: 'flag', value: v.data.readUInt8(0) };
  }
  if (v.guid === GUIDS.imageSecurityDatabase && ['db', 'dbx', 'dbt', 'dbr'].includes(v.name))
    return { kind: 'signatures', entries: parseSignatureLists(v.data) };
  if (
    (v.guid === GUIDS.secureBootEnableDisable && v.name === 'SecureBootEnable') ||
    (v.guid === GUIDS.customMode && v.name === 'CustomMode')
  ) {
    return v.data.length === 1 ? { kind: 'flag', value: v.data.readUInt8(0) } : undefined;
  }
  return undefined;
}

// Attribute bits as the short names efivar and the UEFI spec use (NV, BS, RT, AT, ...).
export function attributeNames(attributes: number): string {
  const names = ['NV', 'BS', 'RT', 'HR', 'AW', 'AT', 'AP'];
  return names.filter((_, i) => attributes & (1 << i)).join('+') || '0';
}

// One line of text for a decoded value.
export function describeDecoded(d: Decoded): string[] {
  switch (d.kind) {
    case 'boot-order':
      return [`order: ${d.order.join(', ') || '(empty)'}`];
    case 'load-option':
      return [
        `${d.option.active ? 'active' : 'inactive'} "${d.option.description}" ${d.option.devicePath}${d.option.optionalData.length ? ` (+${d.option.optionalData.length} bytes optional data)` : ''}`,
      ];
    case 'timeout':
      return [`${d.seconds} s`];
    case 'flag':
      return [`${d.value}`];
    case 'signatures':
      return d.entries.map((e) => `${e.type} owner ${e.owner}: ${e.name}`);
  }
}
