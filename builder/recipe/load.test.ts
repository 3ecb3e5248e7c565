import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadRecipe, RecipeLoader } from './load.ts';

const root = process.cwd();

test('the default host loads: two VMs in start order, sizes in MiB, guests loaded, all frozen', () => {
  const { recipe, problems } = loadRecipe('recipes/host.yaml', root);
  assert.equal(problems, []);
  assert.ok(recipe);
  assert.is(recipe.kind, 'host');
  assert.equal(
    recipe.vms.map((v) => [v.name, v.role, v.memoryMiB, v.launch]),
    [
      ['controller', 'controller', 512, 'vm'],
      ['rescue', 'rescue', 256, 'vm'],
    ],
  );
  const controller = recipe.vms[0]!;
  assert.is(controller.fallback, 'rescue');
  assert.is(controller.autostart, true);
  assert.is(controller.health.deadlineSeconds, 300);
  assert.is(controller.recipe.kind, 'guest');
  assert.is(controller.recipe.kernel.source, 'guest-tiny', 'inherited from guest-base.yaml');
  assert.is(recipe.vms[1]!.recipe.firmware.type, 'seabios', 'rescue overrides the base firmware');
  assert.ok(Object.isFrozen(recipe) && Object.isFrozen(recipe.vms) && Object.isFrozen(controller.health));
  assert.ok(recipe.overlays[0]!.endsWith('/rootfs/host/overlay'));
});

test('extends: the example host keeps the default VMs and adds an application VM', () => {
  const { recipe, problems } = loadRecipe('recipes/examples/host-with-app.yaml', root);
  assert.equal(problems, []);
  assert.equal(
    recipe!.vms.map((v) => v.name),
    ['controller', 'rescue', 'app'],
  );
  const app = recipe!.vms[2]!;
  assert.equal([app.role, app.launch, app.ephemeral, app.autostart], ['application', 'novm', true, true]);
  assert.is(recipe!.kernel.package, 'linux-image-amd64');
  assert.is(recipe!.name, 'multiverse-host-app');
});

test('extends from another folder: the base keeps its own relative paths, the child its own', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-extends-'));
  writeFileSync(join(dir, 'issue.hbs'), 'child {{recipe.name}}\n');
  writeFileSync(
    join(dir, 'child.yaml'),
    `extends: ${join(root, 'recipes/host.yaml')}\nname: child\ntemplates:\n  - source: issue.hbs\n    target: /etc/issue\n`,
  );
  const { recipe, problems } = loadRecipe(join(dir, 'child.yaml'), root);
  assert.equal(problems, []);
  assert.equal(recipe!.overlays, [join(root, 'rootfs/host/overlay')], "the base's overlay, from the base's folder");
  assert.equal(
    recipe!.templates.map((t) => t.source),
    [join(dir, 'issue.hbs')],
    "the child's template, from the child's folder",
  );
});

test("host.watchdog: the watchdogs' drivers join the kernel modules once; without it, none", () => {
  const { recipe, problems } = loadRecipe('qa/cases/030-update-watchdog/host-watchdog.yaml', root);
  assert.equal(problems, []);
  assert.is(recipe!.host.watchdog, 20);
  const modules = recipe!.kernel.modules;
  assert.equal(modules.slice(-3), ['i6300esb', 'iTCO_wdt', 'sp5100_tco']);
  assert.is(new Set(modules).size, modules.length);
  const plain = loadRecipe('recipes/host.yaml', root).recipe!;
  assert.is(plain.host.watchdog, undefined);
  assert.not.ok(plain.kernel.modules.includes('i6300esb'));
});

test('initramfs.usrImage: loop, squashfs and overlay join the kernel modules once; a recipe without it gets none', () => {
  const host = loadRecipe('recipes/host.yaml', root).recipe!;
  assert.equal(host.initramfs.usrImage, {
    boot: ['/usr/bin/busybox', '/usr/bin/node'],
    unpacked: ['/usr/share/nodejs/**'],
  });
  for (const module of ['loop', 'squashfs', 'overlay']) {
    assert.is(host.kernel.modules.filter((m) => m === module).length, 1, module);
  }
  const guest = loadRecipe('recipes/controller.yaml', root).recipe!;
  assert.is(guest.initramfs.usrImage, undefined);
  assert.not.ok(guest.kernel.modules.includes('squashfs'));
});

test('guest recipes are loaded once per loader', () => {
  const loader = new RecipeLoader(root);
  const a = loader.load('recipes/host.yaml').recipe!;
  const b = loader.load('recipes/examples/host-with-app.yaml').recipe!;
  assert.is(a.vms[0]!.recipe, b.vms[0]!.recipe);
});

test('defaults come from the schema and the normaliser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-load-'));
  writeFileSync(join(dir, 'g.yaml'), 'kind: guest\nname: g\nversion: "1.0.0"\n');
  const { recipe, problems } = loadRecipe(join(dir, 'g.yaml'), root);
  assert.equal(problems, []);
  assert.is(recipe!.initramfs.compression, 'zstd');
  assert.equal(recipe!.outputs, ['kernel+initrd']);
  assert.equal(recipe!.host.housekeeping, [0]);
  assert.is(recipe!.boot.attempts, 3);
  assert.is(recipe!.debian.suite, 'trixie', 'current stable');
});

test("a VM built from another Debian suite than its host is refused at the VM's recipe line", () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-suite-'));
  writeFileSync(join(dir, 'old.yaml'), 'kind: guest\nname: old\nversion: "1.0.0"\ndebian:\n  suite: bookworm\n');
  writeFileSync(
    join(dir, 'host.yaml'),
    'kind: host\nname: h\nversion: "1.0.0"\nkernel:\n  package: linux-image-amd64\nvms:\n  app:\n    role: application\n    recipe: old.yaml\n',
  );
  const { recipe, problems } = loadRecipe(join(dir, 'host.yaml'), root);
  assert.is(recipe, undefined);
  assert.is(problems.length, 1);
  assert.match(problems[0]!.message, /old\.yaml is built from Debian bookworm, this host from trixie/);
  assert.equal([problems[0]!.location?.line, problems[0]!.path], [9, '/vms/app/recipe']);
  assert.match(problems[0]!.hint ?? '', /debian: \{ suite: trixie \}/);
});

test('an unknown suite is a schema error that names the choices', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-suite-'));
  writeFileSync(join(dir, 'g.yaml'), 'kind: guest\nname: g\nversion: "1.0.0"\ndebian:\n  suite: buster\n');
  const { problems } = loadRecipe(join(dir, 'g.yaml'), root);
  assert.is(problems.length, 1);
  assert.equal([problems[0]!.location?.line, problems[0]!.path], [5, '/debian/suite']);
  assert.match(`${problems[0]!.message} ${problems[0]!.hint ?? ''}`, /trixie/);
});

test('a missing file is one problem, not a crash', () => {
  const { recipe, problems } = loadRecipe('recipes/nope.yaml', root);
  assert.is(recipe, undefined);
  assert.is(problems.length, 1);
  assert.match(problems[0]!.message, /no such recipe file/);
});

test.run();
