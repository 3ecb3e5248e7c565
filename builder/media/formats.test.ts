import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REQUIREMENTS } from '../tools/requirements.ts';
import { FORMATS, missingMediaPackages } from './formats.ts';
import { fakeMediaInput } from './media-input.test-support.ts';

test('kernel+initrd is the first format and every format the schema knows has a writer', () => {
  assert.equal(Object.keys(FORMATS), ['kernel+initrd', 'iso', 'raw', 'qcow2', 'erofs']);
});

test('every package a format needs is a known requirement (doctor installs it)', () => {
  for (const [name, format] of Object.entries(FORMATS)) {
    for (const pkg of format.packages) assert.ok(REQUIREMENTS.some((r) => r.package === pkg), `${name} needs ${pkg}, not in requirements.ts`);
  }
});

test('on this build host every format has its tools', async () => {
  assert.equal(await missingMediaPackages(['kernel+initrd', 'iso', 'raw', 'qcow2']), []);
});

test('kernel+initrd writes the two files as they are', async () => {
  const input = fakeMediaInput();
  const files = await FORMATS['kernel+initrd'].write(input);
  assert.equal(Object.keys(files), ['vmlinuz', 'initrd']);
  assert.ok(files.vmlinuz!.equals(input.vmlinuz));
});

test('qcow2 holds the raw disk', async () => {
  const files = await FORMATS.qcow2.write(fakeMediaInput());
  const qcow2 = files['test-host.qcow2']!;
  assert.is(qcow2.subarray(0, 4).toString('latin1'), 'QFI\xfb');
});

test.run();
