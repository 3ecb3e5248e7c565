// EFI_LOAD_OPTION (the data of Boot####): attributes, a description and a device path, written by the builder's
// firmware presets and by the agent (its A/B slots under Secure Boot), read back by both.
import { devicePathNode, devicePathText } from './devicepath.ts';
import { guidBytes } from './guid.ts';

// LOAD_OPTION_ACTIVE: the firmware boots the option only with this bit set.
export const LOAD_OPTION_ACTIVE = 1;

// An EFI_LOAD_OPTION taken apart.
export interface LoadOption {
  attributes: number;
  active: boolean;
  description: string;
  // The device path as text (devicePathText), and its bytes.
  devicePath: string;
  filePathList: Buffer;
  optionalData: Buffer;
}

// Encodes a load option around an encoded device path.
export function encodeLoadOption(option: { active: boolean; description: string; filePathList: Buffer }): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32LE(option.active ? LOAD_OPTION_ACTIVE : 0, 0);
  head.writeUInt16LE(option.filePathList.length, 4);
  return Buffer.concat([head, Buffer.from(`${option.description}\0`, 'utf16le'), option.filePathList]);
}

// Parses an EFI_LOAD_OPTION; throws when it is too short to be one.
export function parseLoadOption(data: Buffer): LoadOption {
  if (data.length < 8) throw new Error(`a load option of ${data.length} bytes`);
  const attributes = data.readUInt32LE(0);
  const pathLength = data.readUInt16LE(4);
  let end = 6;
  while (end + 1 < data.length && data.readUInt16LE(end) !== 0) end += 2;
  const description = data.toString('utf16le', 6, end);
  const pathStart = end + 2;
  const filePathList = Buffer.from(data.subarray(pathStart, pathStart + pathLength));
  return {
    attributes,
    active: (attributes & LOAD_OPTION_ACTIVE) === LOAD_OPTION_ACTIVE,
    description,
    devicePath: devicePathText(filePathList),
    filePathList,
    optionalData: Buffer.from(data.subarray(pathStart + pathLength)),
  };
}

// A GPT partition as a hard-drive media node names it.
export interface GptPartition {
  number: number;
  // In 512-byte sectors.
  start: number;
  size: number;
  // The partition's unique GUID (PARTUUID).
  guid: string;
}

// A file on a GPT partition as a short-form device path, HD(…)/\path: the firmware finds the disk by the partition's
// GUID wherever the disk is plugged in. `file` uses backslashes.
export function partitionFilePath(partition: GptPartition, file: string): Buffer {
  const hd = Buffer.alloc(38);
  hd.writeUInt32LE(partition.number, 0);
  hd.writeBigUInt64LE(BigInt(partition.start), 4);
  hd.writeBigUInt64LE(BigInt(partition.size), 12);
  guidBytes(partition.guid).copy(hd, 20);
  hd[36] = 2; // partition format: GPT
  hd[37] = 2; // signature type: GUID
  return Buffer.concat([
    devicePathNode(4, 1, hd),
    devicePathNode(4, 4, Buffer.from(`${file}\0`, 'utf16le')),
    devicePathNode(0x7f, 0xff, Buffer.alloc(0)),
  ]);
}
