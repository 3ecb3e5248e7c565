import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { OutputFormat } from '../recipe/types.ts';
import { missingPackages } from '../tools/doctor.ts';
import { REQUIREMENTS } from '../tools/requirements.ts';
import { isMedium, MEDIA } from './formats.ts';
import { fakeMediaInput } from './media-input.test-support.ts';

const schema = JSON.parse(readFileSync(new URL('../../recipes/recipe.schema.json', import.meta.url), 'utf8')) as {
  properties: { outputs: { items: { enum: string[] } } };
};

test('kernel+initrd is the first medium, and every output the schema knows is a medium with a writer or erofs (the root disk, no medium)', () => {
  assert.equal(Object.keys(MEDIA), ['kernel+initrd', 'iso', 'raw', 'qcow2']);
  assert.equal(schema.properties.outputs.items.enum, ['kernel+initrd', 'iso', 'raw', 'qcow2', 'erofs']);
  assert.equal(
    schema.properties.outputs.items.enum.filter((o) => !isMedium(o as OutputFormat)),
    ['erofs'],
  );
  for (const medium of Object.values(MEDIA)) assert.type(medium.write, 'function');
});

test('every package a medium needs is a known requirement (doctor installs it)', () => {
  for (const [name, medium] of Object.entries(MEDIA)) {
    for (const pkg of medium.packages)
      assert.ok(
        REQUIREMENTS.some((r) => r.package === pkg),
        `${name} needs ${pkg}, not in requirements.ts`,
      );
  }
});

test('on this build host every medium has its tools', async () => {
  assert.equal(await missingPackages(Object.values(MEDIA).flatMap((m) => m.packages)), []);
});

test('kernel+initrd writes the two files as they are', async () => {
  const input = fakeMediaInput();
  const files = await MEDIA['kernel+initrd'].write(input);
  assert.equal(Object.keys(files), ['vmlinuz', 'initrd']);
  assert.ok(files.vmlinuz!.equals(input.vmlinuz));
});

test('qcow2 holds the raw disk', async () => {
  const files = await MEDIA.qcow2.write(fakeMediaInput());
  const qcow2 = files['test-host.qcow2']!;
  assert.is(qcow2.subarray(0, 4).toString('latin1'), 'QFI\xfb');
});

test.run();
