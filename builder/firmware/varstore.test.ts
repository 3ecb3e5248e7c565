import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GUIDS } from '../../common/efi/guid.ts';
import { decodeVariable } from './decode.ts';
import { ATTR, type EfiVariable, emptyVarstore4M, readVarstore, writeVarstore } from './varstore.ts';

const OVMF = '/usr/share/OVMF';
const haveOvmf = existsSync(`${OVMF}/OVMF_VARS_4M.ms.fd`);

test("an empty store we synthesize is byte-identical to Debian's OVMF_VARS_4M.fd", () => {
  if (!haveOvmf) return console.log('  skipped: ovmf is not installed');
  assert.ok(emptyVarstore4M().equals(readFileSync(`${OVMF}/OVMF_VARS_4M.fd`)));
  assert.equal(readVarstore(emptyVarstore4M()).variables, []);
});

test('OVMF_VARS_4M.ms.fd: PK, KEK, db and dbx with the Microsoft certificates, under the right GUIDs', () => {
  if (!haveOvmf) return console.log('  skipped: ovmf is not installed');
  const { variables, layout } = readVarstore(readFileSync(`${OVMF}/OVMF_VARS_4M.ms.fd`));
  assert.is(layout.fileSize, 540672);
  assert.ok(layout.skipped > 0, 'the Debian store carries deleted variables, which are skipped');
  const find = (name: string) => variables.find((v) => v.name === name)!;
  assert.is(find('PK').guid, GUIDS.globalVariable);
  assert.is(find('KEK').guid, GUIDS.globalVariable);
  assert.is(find('db').guid, GUIDS.imageSecurityDatabase);
  assert.is(find('dbx').guid, GUIDS.imageSecurityDatabase);
  for (const name of ['PK', 'KEK', 'db', 'dbx'])
    assert.is(find(name).attributes, ATTR.NV | ATTR.BS | ATTR.RT | ATTR.AT, name);
  const names = (name: string) => {
    const d = decodeVariable(find(name));
    return d?.kind === 'signatures' ? d.entries.map((e) => e.name) : [];
  };
  assert.ok(names('KEK').includes('Microsoft Corporation KEK CA 2011'));
  assert.equal(names('db'), ['Microsoft Windows Production PCA 2011', 'Microsoft Corporation UEFI CA 2011']);
  const dbx = decodeVariable(find('dbx'));
  assert.is(dbx?.kind === 'signatures' && dbx.entries[0]!.type, 'sha256');
  const timeout = decodeVariable(find('Timeout'));
  assert.equal(timeout, { kind: 'timeout', seconds: 0 });
});

test('write(read(x)) reads back the same variables, and the file keeps its size and FTW area', () => {
  if (!haveOvmf) return console.log('  skipped: ovmf is not installed');
  for (const file of ['OVMF_VARS_4M.ms.fd', 'OVMF_VARS_4M.snakeoil.fd']) {
    const original = readFileSync(`${OVMF}/${file}`);
    const first = readVarstore(original);
    const written = writeVarstore(first.variables, original);
    assert.is(written.length, original.length);
    assert.ok(
      written.subarray(0x40000).equals(original.subarray(0x40000)),
      'everything after the variable store is kept',
    );
    const again = readVarstore(written);
    assert.equal(again.variables, first.variables, file);
    assert.is(again.layout.skipped, 0, 'deleted variables are compacted away');
  }
});

test('a store written from scratch reads back identically', () => {
  const variables: EfiVariable[] = [
    { name: 'Timeout', guid: GUIDS.globalVariable, attributes: ATTR.NV | ATTR.BS | ATTR.RT, data: Buffer.from([3, 0]) },
    {
      name: 'BootOrder',
      guid: GUIDS.globalVariable,
      attributes: ATTR.NV | ATTR.BS | ATTR.RT,
      data: Buffer.from([1, 0, 0, 0]),
    },
    {
      name: 'PK',
      guid: GUIDS.globalVariable,
      attributes: ATTR.NV | ATTR.BS | ATTR.RT | ATTR.AT,
      data: Buffer.from('abc'),
      timestamp: {
        year: 2026,
        month: 1,
        day: 2,
        hour: 3,
        minute: 4,
        second: 5,
        nanosecond: 0,
        timeZone: 0,
        daylight: 0,
      },
    },
    {
      name: 'Odd',
      guid: '12345678-1234-1234-1234-123456789abc',
      attributes: ATTR.BS,
      data: Buffer.alloc(0),
      monotonicCount: 7,
      pubKeyIndex: 2,
    },
  ];
  const buf = writeVarstore(variables);
  assert.is(buf.length, 540672);
  assert.equal(readVarstore(buf).variables, variables);
  assert.equal(decodeVariable(readVarstore(buf).variables[1]!), { kind: 'boot-order', order: ['0001', '0000'] });
});

test('damaged or foreign files are refused with a reason', () => {
  const buf = emptyVarstore4M();
  buf[0x40] = buf.readUInt8(0x40) ^ 1;
  assert.throws(() => readVarstore(buf), /checksum/);
  assert.throws(() => readVarstore(Buffer.alloc(4096)), /_FVH/);
  const dup = { name: 'X', guid: GUIDS.globalVariable, attributes: 7, data: Buffer.alloc(1) };
  assert.throws(() => writeVarstore([dup, dup]), /given twice/);
  assert.throws(() => writeVarstore([{ ...dup, data: Buffer.alloc(0x40000) }]), /more than/);
});

test.run();
