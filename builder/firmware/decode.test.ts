import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { devicePathText } from '../../common/efi/devicepath.ts';
import { parseLoadOption } from '../../common/efi/load-option.ts';
import { attributeNames } from './decode.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('device paths: PciRoot/Pci/Sata and an end node', () => {
  const path = hex('02010c00d041030a00000000 01010600021f 03120a000000ffff0000 7fff0400');
  assert.is(devicePathText(path), 'PciRoot(0x0)/Pci(0x1f,0x2)/Sata(0x0,0xffff,0x0)');
});

test('a load option: attributes, description, path, optional data', () => {
  const desc = Buffer.from('disk\0', 'utf16le');
  const path = hex('04041400');
  const file = Buffer.concat([path, Buffer.from('\\a.efi\0', 'utf16le').subarray(0, 16)]);
  file.writeUInt16LE(file.length, 2);
  const end = hex('7fff0400');
  const head = Buffer.alloc(6);
  head.writeUInt32LE(1, 0);
  head.writeUInt16LE(file.length + end.length, 4);
  const option = parseLoadOption(Buffer.concat([head, desc, file, end, Buffer.from([9])]));
  assert.is(option.description, 'disk');
  assert.ok(option.active);
  assert.is(option.devicePath, '\\a.efi');
  assert.equal([...option.optionalData], [9]);
});

test('attribute names', () => {
  assert.is(attributeNames(0x27), 'NV+BS+RT+AT');
  assert.is(attributeNames(0), '0');
});

test.run();
