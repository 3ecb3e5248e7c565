import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError, UserError } from '../../common/errors.ts';
import { refused } from '../../common/refused.test-support.ts';
import { type AptContext, createAptContext, fetchPackage, resolvePackages } from './apt.ts';

let workDir = '';
let ctx: AptContext;

test.before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'mvos-apt-test-'));
  ctx = await createAptContext({ workDir });
});

test.after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

test("a context with default sources reuses this machine's indexes and stays private", () => {
  assert.ok(ctx.usesSystemLists);
  assert.is(ctx.sources, undefined);
  assert.ok(ctx.statusFile.startsWith(workDir));
  assert.ok(ctx.aptArgs.includes('Debug::NoLocking=1'));
});

test('busybox-static without dependencies is one pin from the pool', async () => {
  const pins = await resolvePackages(ctx, ['busybox-static'], { withDependencies: false });
  assert.is(pins.length, 1);
  const [pin] = pins;
  assert.is(pin!.name, 'busybox-static');
  assert.is(pin!.arch, 'amd64');
  assert.match(pin!.sha256, /^[0-9a-f]{64}$/);
  assert.match(pin!.filename, /^pool\/.+\/busybox-static_[^/]+_amd64\.deb$/);
  assert.ok(pin!.size > 0);
});

test('an explicit version pins that version', async () => {
  const [pin] = await resolvePackages(ctx, ['busybox-static'], { withDependencies: false });
  const again = await resolvePackages(ctx, [`busybox-static=${pin!.version}`], { withDependencies: true });
  assert.equal(again, [pin]);
});

test('qemu-utils with dependencies is a sorted, repeatable closure with libc6', async () => {
  const first = await resolvePackages(ctx, ['qemu-utils'], { withDependencies: true });
  const names = first.map((p) => p.name);
  assert.ok(names.includes('qemu-utils'));
  assert.ok(names.includes('libc6'));
  assert.equal(names, [...names].sort());
  const second = await resolvePackages(ctx, ['qemu-utils'], { withDependencies: true });
  assert.equal(second, first);
});

test('resolution ignores what this machine has installed', async () => {
  // busybox-static and libc6 are installed on the build machine, yet an empty system needs them.
  const pins = await resolvePackages(ctx, ['busybox-static', 'qemu-utils'], { withDependencies: true });
  const names = pins.map((p) => p.name);
  assert.ok(names.includes('busybox-static'));
  assert.ok(names.includes('libc6'));
});

test('linux-image-amd64 resolves to the metapackage, and with dependencies to a versioned kernel', async () => {
  const alone = await resolvePackages(ctx, ['linux-image-amd64'], { withDependencies: false });
  assert.equal(
    alone.map((p) => p.name),
    ['linux-image-amd64'],
  );
  const closure = await resolvePackages(ctx, ['linux-image-amd64'], { withDependencies: true });
  assert.ok(closure.some((p) => /^linux-image-6\..*-amd64$/.test(p.name)));
});

test('a virtual package with one provider resolves to that provider', async () => {
  const pins = await resolvePackages(ctx, ['aalib1'], { withDependencies: false });
  assert.equal(
    pins.map((p) => p.name),
    ['libaa1'],
  );
});

test('unknown packages are a UserError naming each one', async () => {
  try {
    await resolvePackages(ctx, ['busybox-static', 'no-such-package-mvos', 'nor-this-one-mvos'], {
      withDependencies: true,
    });
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, UserError);
    const message = (error as UserError).message;
    assert.match(message, /no-such-package-mvos/);
    assert.match(message, /nor-this-one-mvos/);
    assert.match((error as UserError).hint ?? '', /apt-cache search/);
  }
  await refused(
    resolvePackages(ctx, ['no-such-package-mvos'], { withDependencies: false }),
    /unknown package: no-such-package-mvos/,
  );
});

test('a virtual package with many providers asks for one of them', async () => {
  await refused(
    resolvePackages(ctx, ['awk'], { withDependencies: false }),
    /awk is a virtual package provided by .*mawk/,
  );
});

test('a missing version and a malformed name are UserErrors', async () => {
  await refused(
    resolvePackages(ctx, ['busybox-static=0.0-mvos'], { withDependencies: false }),
    /busybox-static has no version 0.0-mvos/,
  );
  await refused(resolvePackages(ctx, ['--yes'], { withDependencies: false }));
});

test('fetching busybox-static gives bytes matching its pin, from the machine cache even offline', async () => {
  const [pin] = await resolvePackages(ctx, ['busybox-static'], { withDependencies: false });
  const hash = createHash('sha256');
  let size = 0;
  await fetchPackage(
    ctx,
    pin!,
    async (stream) => {
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
    },
    { offline: true },
  );
  assert.is(size, pin!.size);
  assert.is(hash.digest('hex'), pin!.sha256);
});

test('offline fetch of a package not in the machine cache is a FailureError', async () => {
  const [pin] = await resolvePackages(ctx, ['busybox-static'], { withDependencies: false });
  const missing = { ...pin!, version: `${pin!.version}~mvos-not-cached` };
  try {
    await fetchPackage(ctx, missing, async () => {}, { offline: true });
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, FailureError);
    assert.match((error as FailureError).message, /would need a download but --offline is set/);
  }
});

test.run();
