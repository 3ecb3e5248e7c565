import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { moduleGraph } from './module-graph.ts';
import { hashCode, repoRoot } from './sources.ts';

test("a module's graph holds it and every module it imports, directly or not; no npm package, no type-only import", async () => {
  const root = mkdtempSync(join(tmpdir(), 'mvos-graph-'));
  try {
    writeFileSync(
      join(root, 'a.ts'),
      "import { b } from './b.ts';\nimport type { C } from './c.ts';\nimport { execa } from 'execa';\nexport const a: C = b + String(execa);\n",
    );
    writeFileSync(join(root, 'b.ts'), "export { d as b } from './d.ts';\n");
    writeFileSync(join(root, 'c.ts'), 'export type C = string;\n');
    writeFileSync(join(root, 'd.ts'), "export const d = 'd';\n");
    assert.equal(await moduleGraph(root, 'a.ts'), ['a.ts', 'b.ts', 'd.ts']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the media writers' graphs hold the GRUB, FAT, GPT and template code the hand-kept lists once named (and missed)", async () => {
  const iso = await moduleGraph(repoRoot, 'builder/media/iso.ts');
  for (const file of [
    'builder/media/fat.ts',
    'builder/media/gpt.ts',
    'builder/media/grub.ts',
    'builder/media/input.ts',
    'builder/recipe/templates.ts',
  ])
    assert.ok(iso.includes(file), file);
  assert.not.ok(
    (await moduleGraph(repoRoot, 'builder/pipeline/packages.ts')).includes('builder/pipeline/image.ts'),
    'packages.ts takes only a type from image.ts',
  );
});

test('hashCode covers the imports of the modules it names, and other files as they are', async () => {
  assert.is(
    await hashCode(['builder/media/iso.ts']),
    await hashCode(['builder/media/grub.ts', 'builder/media/iso.ts']),
  );
  assert.is.not(
    await hashCode(['builder/media/iso.ts']),
    await hashCode(['builder/media/iso.ts', 'rootfs/boot/grub.cfg.hbs']),
  );
});

test.run();
