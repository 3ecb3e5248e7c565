import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { devicePathText } from '../../common/efi/devicepath.ts';
import { GUIDS } from '../../common/efi/guid.ts';
import { decodeVariable } from './decode.ts';
import { devicePathFromText } from './devicepath-text.ts';
import { loadPreset, presetVariables } from './preset.ts';
import { readVarstore, writeVarstore } from './varstore.ts';

test('device path text round-trips for PciRoot, Pci and a file; other nodes are refused', () => {
  for (const text of ['PciRoot(0x0)/Pci(0x5,0x0)', 'PciRoot(0x0)/Pci(0x1f,0x2)/\\EFI\\BOOT\\BOOTX64.EFI'])
    assert.is(devicePathText(devicePathFromText(text)), text);
  assert.throws(() => devicePathFromText('Usb(1,2)'), /not supported/);
});

test('a preset with boot entries, a timeout and a custom variable', () => {
  const vars = presetVariables({
    timeout: 5,
    bootEntries: [
      { description: 'second disk', devicePath: 'PciRoot(0x0)/Pci(0x6,0x0)' },
      { description: 'first disk', devicePath: 'PciRoot(0x0)/Pci(0x5,0x0)', active: false },
    ],
    variables: [{ name: 'Hello', guid: '12345678-1234-1234-1234-123456789ABC', attributes: 'NV+BS', text: 'hi' }],
  });
  const back = readVarstore(writeVarstore(vars)).variables;
  assert.equal(
    back.map((v) => v.name),
    ['Timeout', 'Boot0000', 'Boot0001', 'BootOrder', 'Hello'],
  );
  assert.equal(decodeVariable(back[3]!), { kind: 'boot-order', order: ['0000', '0001'] });
  const second = decodeVariable(back[2]!);
  assert.ok(second?.kind === 'load-option' && !second.option.active && second.option.description === 'first disk');
  assert.is(back[4]!.attributes, 3);
  assert.is(back[4]!.guid, '12345678-1234-1234-1234-123456789abc');
});

test('the shipped presets load; secureboot needs keys', () => {
  assert.is(loadPreset('default').timeout, 0);
  assert.throws(() => presetVariables(loadPreset('secureboot')), /mvos keys init/);
  const fake = Buffer.from('30820000', 'hex');
  const sb = presetVariables(loadPreset('secureboot'), { PK: fake, KEK: fake, db: fake });
  const db = sb.find((v) => v.name === 'db')!;
  assert.is(db.guid, GUIDS.imageSecurityDatabase);
  assert.is(db.attributes, 0x27);
  assert.ok(sb.some((v) => v.name === 'SecureBootEnable' && v.data[0] === 1));
  assert.throws(() => loadPreset('no-such-preset'), /no preset/);
});

test.run();
