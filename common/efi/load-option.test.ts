import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { devicePathText } from './devicepath.ts';
import { encodeLoadOption, parseLoadOption, partitionFilePath } from './load-option.ts';

const ESP = { number: 2, start: 4096, size: 262144, guid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0' };

test('a file on a GPT partition: HD()/path, ending with the end node', () => {
  const path = partitionFilePath(ESP, '\\EFI\\BOOT\\BOOTX64.EFI');
  assert.is(devicePathText(path), `HD(2,GPT,${ESP.guid},0x1000,0x40000)/\\EFI\\BOOT\\BOOTX64.EFI`);
  assert.is(path.readUInt16LE(2), 42, 'the hard-drive node is 42 bytes');
  assert.equal([...path.subarray(-4)], [0x7f, 0xff, 4, 0]);
});

test('a load option reads back as written', () => {
  const filePathList = partitionFilePath(ESP, '\\boot\\b\\uki.efi');
  const option = parseLoadOption(
    encodeLoadOption({ active: true, description: 'Multiverse host slot b', filePathList }),
  );
  assert.is(option.description, 'Multiverse host slot b');
  assert.ok(option.active);
  assert.equal(option.filePathList, filePathList);
  assert.is(option.optionalData.length, 0);
  const inactive = parseLoadOption(encodeLoadOption({ active: false, description: '', filePathList }));
  assert.not.ok(inactive.active);
});

test('a variable too short to be a load option is refused', () => {
  assert.throws(() => parseLoadOption(Buffer.alloc(5)), /a load option of 5 bytes/);
});

test.run();
