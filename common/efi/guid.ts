// EFI GUIDs: the mixed-endian 16 bytes on disk and the text form, plus the ones the firmware code names.

// Parses the 16 on-disk bytes at `offset` into the lower-case text form.
export function readGuid(buf: Buffer, offset: number): string {
  const hex = (start: number, end: number) => buf.subarray(offset + start, offset + end).toString('hex');
  const d1 = buf.readUInt32LE(offset).toString(16).padStart(8, '0');
  const d2 = buf
    .readUInt16LE(offset + 4)
    .toString(16)
    .padStart(4, '0');
  const d3 = buf
    .readUInt16LE(offset + 6)
    .toString(16)
    .padStart(4, '0');
  return `${d1}-${d2}-${d3}-${hex(8, 10)}-${hex(10, 16)}`;
}

// Encodes a text GUID into its 16 on-disk bytes.
export function guidBytes(text: string): Buffer {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(text);
  if (!m) throw new Error(`not a GUID: ${text}`);
  const out = Buffer.alloc(16);
  out.writeUInt32LE(parseInt(m[1]!, 16), 0);
  out.writeUInt16LE(parseInt(m[2]!, 16), 4);
  out.writeUInt16LE(parseInt(m[3]!, 16), 6);
  Buffer.from(m[4]! + m[5]!, 'hex').copy(out, 8);
  return out;
}

// GUIDs the variable store and Secure Boot use, by their edk2 names.
export const GUIDS = {
  systemNvDataFv: 'fff12b8d-7696-4c8b-a985-2747075b4f50',
  authenticatedVariableStore: 'aaf32c78-947b-439a-a180-2e144ec37792',
  variableStore: 'ddcf3616-3275-4164-98b6-fe85707ffe7d',
  ftwWorkingBlock: '9e58292b-7c68-497d-a0ce-6500fd9f1b95',
  globalVariable: '8be4df61-93ca-11d2-aa0d-00e098032b8c',
  imageSecurityDatabase: 'd719b2cb-3d3a-4596-a3bc-dad00e67656f',
  secureBootEnableDisable: 'f0a30bc7-af08-4556-99c4-001009c93a44',
  customMode: 'c076ec0c-7028-4399-a072-71ee5c448b9f',
  certX509: 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072',
  certSha256: 'c1c41626-504c-4092-aca9-41f936934328',
} as const;
