// NVRAM presets (firmware/presets/<name>.json) and the variables they stand for: timeout, boot entries, custom
// variables, Secure Boot keys.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GUIDS } from '../../common/efi/guid.ts';
import { encodeLoadOption } from '../../common/efi/load-option.ts';
import { devicePathFromText } from './devicepath-text.ts';
import { KEY_ROLES, type KeyRole, MVOS_OWNER_GUID } from './keys.ts';
import { x509SignatureList } from './siglist.ts';
import { ATTR, type EfiTime, type EfiVariable } from './varstore.ts';

// One boot entry; the preset's order of entries is the BootOrder.
export interface PresetBootEntry {
  description: string;
  devicePath: string;
  active?: boolean;
}

// One variable spelled out in a preset; data is hex, or text stored as UTF-16LE with a NUL.
export interface PresetVariable {
  name: string;
  guid: string;
  attributes?: string;
  hex?: string;
  text?: string;
}

// What a preset file holds.
export interface Preset {
  description?: string;
  timeout?: number;
  bootEntries?: PresetBootEntry[];
  variables?: PresetVariable[];
  // Enroll PK, KEK and db from a key folder and turn Secure Boot on.
  secureBoot?: boolean;
}

// Where the presets shipped with the repository live.
export const PRESET_DIR = fileURLToPath(new URL('../../firmware/presets/', import.meta.url));

// The enrollment timestamp of key variables: fixed, so the same keys give the same varstore.
const ENROLLED_AT: EfiTime = {
  year: 2026,
  month: 1,
  day: 1,
  hour: 0,
  minute: 0,
  second: 0,
  nanosecond: 0,
  timeZone: 0,
  daylight: 0,
};

const NV_BS_RT = ATTR.NV | ATTR.BS | ATTR.RT;

// Reads a preset by name (firmware/presets/<name>.json) or by path.
export function loadPreset(nameOrPath: string, dir = PRESET_DIR): Preset {
  const file = nameOrPath.endsWith('.json') ? nameOrPath : join(dir, `${nameOrPath}.json`);
  if (!existsSync(file)) throw new Error(`no preset ${nameOrPath} (looked for ${file})`);
  return JSON.parse(readFileSync(file, 'utf8')) as Preset;
}

function parseAttributes(text: string | undefined): number {
  if (!text) return NV_BS_RT;
  let out = 0;
  for (const name of text.split('+')) {
    const bit = ATTR[name as keyof typeof ATTR];
    if (!bit) throw new Error(`unknown attribute ${name} (use NV, BS, RT, HR, AW, AT, AP joined by +)`);
    out |= bit;
  }
  return out;
}

function loadOption(entry: PresetBootEntry): Buffer {
  return encodeLoadOption({
    active: entry.active !== false,
    description: entry.description,
    filePathList: devicePathFromText(entry.devicePath),
  });
}

// The variables Secure Boot needs, as OVMF's own enrollment leaves them: PK, KEK, db as time-authenticated lists, the
// enable switch on.
export function secureBootVariables(certs: Record<KeyRole, Buffer>): EfiVariable[] {
  const timeAuth = NV_BS_RT | ATTR.AT;
  const out: EfiVariable[] = KEY_ROLES.map((role) => ({
    name: role,
    guid: role === 'db' ? GUIDS.imageSecurityDatabase : GUIDS.globalVariable,
    attributes: timeAuth,
    data: x509SignatureList(certs[role], MVOS_OWNER_GUID),
    timestamp: ENROLLED_AT,
  }));
  out.push({
    name: 'SecureBootEnable',
    guid: GUIDS.secureBootEnableDisable,
    attributes: ATTR.NV | ATTR.BS,
    data: Buffer.from([1]),
  });
  out.push({ name: 'CustomMode', guid: GUIDS.customMode, attributes: ATTR.NV | ATTR.BS, data: Buffer.from([0]) });
  return out;
}

// Turns a preset into variables; Secure Boot presets need the key set's certificates.
export function presetVariables(preset: Preset, certs?: Record<KeyRole, Buffer>): EfiVariable[] {
  const out: EfiVariable[] = [];
  if (preset.timeout !== undefined) {
    const data = Buffer.alloc(2);
    data.writeUInt16LE(preset.timeout);
    out.push({ name: 'Timeout', guid: GUIDS.globalVariable, attributes: NV_BS_RT, data });
  }
  const entries = preset.bootEntries ?? [];
  if (entries.length > 0) {
    const order = Buffer.alloc(entries.length * 2);
    entries.forEach((entry, i) => {
      order.writeUInt16LE(i, i * 2);
      out.push({
        name: `Boot${i.toString(16).toUpperCase().padStart(4, '0')}`,
        guid: GUIDS.globalVariable,
        attributes: NV_BS_RT,
        data: loadOption(entry),
      });
    });
    out.push({ name: 'BootOrder', guid: GUIDS.globalVariable, attributes: NV_BS_RT, data: order });
  }
  for (const v of preset.variables ?? []) {
    const data = v.hex !== undefined ? Buffer.from(v.hex, 'hex') : Buffer.from(`${v.text ?? ''}\0`, 'utf16le');
    out.push({ name: v.name, guid: v.guid.toLowerCase(), attributes: parseAttributes(v.attributes), data });
  }
  if (preset.secureBoot) {
    if (!certs)
      throw new Error('this preset enrolls Secure Boot keys: give a key folder (--keys DIR, made by `mvos keys init`)');
    out.push(...secureBootVariables(certs));
  }
  return out;
}
