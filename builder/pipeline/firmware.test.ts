import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../common/errors.ts';
import { signingTime } from '../firmware/authenticode.ts';
import { decodeVariable } from '../firmware/decode.ts';
import { initKeys, MVOS_OWNER_GUID } from '../firmware/keys.ts';
import type { FirmwareFile } from '../firmware/pinned.ts';
import { parseSignatureLists } from '../firmware/siglist.ts';
import { DEFAULT_STUB } from '../firmware/uki.ts';
import { emptyVarstore4M, readVarstore } from '../firmware/varstore.ts';
import { ContentCache } from '../inputs/cache.ts';
import { requireRecipe } from '../recipe/load.ts';
import type { Recipe, VmSpec } from '../recipe/types.ts';
import { makeSignedUki, makeVmVars } from './firmware.ts';
import { hostConfig } from './generated.ts';
import { repoRoot } from './sources.ts';
import type { StageRunner } from './stage.ts';

const host = requireRecipe(join(repoRoot, 'recipes/host.yaml'), repoRoot);

function withFirmware(vm: VmSpec, firmware: Partial<Recipe['firmware']>, launch: VmSpec['launch'] = vm.launch): VmSpec {
  return { ...vm, launch, recipe: { ...vm.recipe, firmware: { ...vm.recipe.firmware, ...firmware } } };
}

function runner(): StageRunner {
  return { cache: new ContentCache(mkdtempSync(join(tmpdir(), 'mvos-fw-stage-'))), stages: [], log: () => undefined };
}

async function template(r: StageRunner): Promise<Record<FirmwareFile, string>> {
  const blob = (await r.cache.putBuffer(emptyVarstore4M())).sha256;
  return { 'ovmf-vars': blob } as Record<FirmwareFile, string>;
}

// Runs fn with $XDG_CONFIG_HOME at an empty folder, where defaultKeyDir() finds no keys until fn makes them.
async function withKeyHome(fn: (config: string) => Promise<void>): Promise<void> {
  const saved = process.env.XDG_CONFIG_HOME;
  const config = mkdtempSync(join(tmpdir(), 'mvos-fw-keys-'));
  process.env.XDG_CONFIG_HOME = config;
  try {
    await fn(config);
  } finally {
    if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = saved;
    await rm(config, { recursive: true, force: true });
  }
}

test('host.json: each full VM names its firmware code in the host image and its own vars; novm VMs have none', () => {
  const [controller, rescue] = host.vms;
  const config = hostConfig({
    ...host,
    vms: [
      withFirmware(controller!, { bootOrder: ['disk', 'cd'] }),
      withFirmware(rescue!, { timeout: 4 }),
      withFirmware(rescue!, {}, 'novm'),
    ],
  });
  assert.equal(
    config.vms.map((v) => v.firmware),
    [
      {
        type: 'ovmf',
        code: '/usr/share/OVMF/OVMF_CODE_4M.fd',
        vars: '/usr/share/mvos/vms/controller/vars.fd',
        bootOrder: ['disk', 'cd'],
      },
      { type: 'seabios', code: '/usr/share/seabios/bios-256k.bin', vars: null, menuWaitMs: 4000 },
      { type: 'none' },
    ],
  );
  const secure = hostConfig({ ...host, vms: [withFirmware(controller!, { type: 'ovmf-secureboot' })] });
  assert.is(secure.vms[0]!.firmware.code, '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd');
});

test("vm-vars: an OVMF VM's store carries the recipe's timeout; SeaBIOS VMs get none; a second run comes from the cache", async () => {
  const r = runner();
  const firmware = await template(r);
  const [controller, rescue] = host.vms;
  const vms = [withFirmware(controller!, { timeout: 7 }), rescue!];
  const out = await makeVmVars(r, 'h', vms, firmware);
  assert.equal(Object.keys(out), ['controller']);
  const store = readVarstore(await r.cache.read(out.controller!, 'vars'));
  assert.equal(decodeVariable(store.variables.find((v) => v.name === 'Timeout')!), { kind: 'timeout', seconds: 7 });
  assert.equal(await makeVmVars(r, 'h', vms, firmware), out);
  assert.equal(
    r.stages.map((s) => s.ran),
    [true, false],
  );
});

test('vm-vars: ovmf-secureboot enrolls the key set from the key folder; without one the build stops with the `mvos keys init` hint', async () => {
  await withKeyHome(async (config) => {
    const r = runner();
    const firmware = await template(r);
    const vms = [withFirmware(host.vms[0]!, { type: 'ovmf-secureboot' })];
    try {
      await makeVmVars(r, 'h', vms, firmware);
      assert.unreachable('no keys: must fail');
    } catch (error) {
      assert.instance(error, UserError);
      assert.match((error as UserError).hint!, 'mvos keys init');
    }
    await initKeys(join(config, 'mvos', 'keys'));
    const out = await makeVmVars(r, 'h', vms, firmware);
    const store = readVarstore(await r.cache.read(out.controller!, 'vars'));
    for (const name of ['PK', 'KEK', 'db']) {
      const entries = parseSignatureLists(store.variables.find((v) => v.name === name)!.data);
      assert.equal(
        entries.map((e) => [e.owner, e.name]),
        [[MVOS_OWNER_GUID, `Multiverse ${name}`]],
      );
    }
  });
});

test('vm-vars: an unknown preset is a user error naming the VM', async () => {
  const r = runner();
  try {
    await makeVmVars(r, 'h', [withFirmware(host.vms[0]!, { preset: 'no-such-preset' })], await template(r));
    assert.unreachable('must fail');
  } catch (error) {
    assert.instance(error, UserError);
    assert.match((error as Error).message, 'VM controller: no preset no-such-preset');
  }
});

test('uki: two builds in two empty caches sign the same bytes (signing time from SOURCE_DATE_EPOCH); no db key is a user error', async () => {
  if (!existsSync(DEFAULT_STUB)) return console.log('  skipped: systemd-boot-efi is not installed');
  await withKeyHome(async (config) => {
    const build = async () => {
      const r = runner();
      const vmlinuz = (await r.cache.putBuffer(Buffer.alloc(70000, 1))).sha256;
      const initrd = (await r.cache.putBuffer(Buffer.alloc(5000, 2))).sha256;
      const blob = await makeSignedUki(r, {
        recipe: host,
        vmlinuz,
        initrd,
        cmdline: 'console=ttyS0',
        sourceDateEpoch: 1795651200,
      });
      return { blob, r };
    };
    try {
      await build();
      assert.unreachable('no keys: must fail');
    } catch (error) {
      assert.instance(error, UserError);
      assert.match((error as UserError).hint!, 'mvos keys init');
    }
    await initKeys(join(config, 'mvos', 'keys'));
    const first = await build();
    await new Promise((r) => setTimeout(r, 1100));
    const second = await build();
    assert.is(first.blob, second.blob, 'same parts and key: the same signed UKI');
    const signed = await first.r.cache.read(first.blob, 'uki');
    assert.is(signingTime(signed), 1795651200);
  });
});

test.run();
