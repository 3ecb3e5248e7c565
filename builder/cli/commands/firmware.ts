// `mvos firmware vars show|build`: read and write OVMF variable stores.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../../../common/errors.ts';
import { attributeNames, decodeVariable, describeDecoded } from '../../firmware/decode.ts';
import { defaultKeyDir, loadKeySet } from '../../firmware/keys.ts';
import { loadPreset, presetVariables } from '../../firmware/preset.ts';
import { readVarstore, type Varstore, writeVarstore } from '../../firmware/varstore.ts';
import type { Command, CommandContext } from '../command.ts';

function jsonValue(key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer')
    return Buffer.from((value as { data: number[] }).data).toString('hex');
  return key === 'data' && Buffer.isBuffer(value) ? value.toString('hex') : value;
}

async function show(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length !== 1)
    throw new UserError('give one VARS file', {
      hint: 'usage: mvos firmware vars show /usr/share/OVMF/OVMF_VARS_4M.ms.fd',
    });
  const file = resolve(ctx.cwd, ctx.positionals[0]!);
  if (!existsSync(file)) throw new UserError(`${file} does not exist`);
  let store: Varstore;
  try {
    store = readVarstore(await readFile(file));
  } catch (error) {
    throw new UserError(`${file}: ${(error as Error).message}`);
  }
  const rows = store.variables.map((v) => ({
    ...v,
    size: v.data.length,
    attributeNames: attributeNames(v.attributes),
    decoded: decodeVariable(v),
  }));
  if (ctx.json) {
    ctx.out(JSON.stringify({ file, layout: store.layout, variables: rows }, jsonValue, 2));
    return 0;
  }
  ctx.out(
    `${file}: ${rows.length} variables, ${store.layout.usedEnd - store.layout.storeOffset} of ${store.layout.storeSize} store bytes used${store.layout.skipped ? `, ${store.layout.skipped} deleted` : ''}`,
  );
  for (const v of rows) {
    ctx.out(`${v.name}  ${v.guid}  ${v.attributeNames}  ${v.size} bytes`);
    if (v.decoded) for (const line of describeDecoded(v.decoded)) ctx.out(`    ${line}`);
  }
  return 0;
}

async function build(ctx: CommandContext): Promise<number> {
  const presetName = ctx.flags.preset as string | undefined;
  const out = ctx.flags.out as string | undefined;
  if (!presetName || !out)
    throw new UserError('--preset and --out are needed', {
      hint: 'usage: mvos firmware vars build --preset secureboot --out vm.vars.fd [--keys DIR]',
    });
  const preset = loadPreset(presetName);
  const keyDir = (ctx.flags.keys as string | undefined) ?? defaultKeyDir();
  const certs = preset.secureBoot ? await loadKeySet(resolve(ctx.cwd, keyDir)) : undefined;
  const template = ctx.flags.template ? await readFile(resolve(ctx.cwd, ctx.flags.template as string)) : undefined;
  const variables = presetVariables(preset, certs);
  const bytes = writeVarstore(variables, template);
  await writeFile(resolve(ctx.cwd, out), bytes);
  if (ctx.json)
    ctx.out(
      JSON.stringify(
        { out: resolve(ctx.cwd, out), size: bytes.length, variables: variables.map((v) => v.name) },
        null,
        2,
      ),
    );
  else ctx.out(`wrote ${out} (${bytes.length} bytes): ${variables.map((v) => v.name).join(', ')}`);
  return 0;
}

// The firmware verb: `vars show` and `vars build`.
export const firmwareCommand: Command = {
  name: 'firmware',
  summary: 'inspect and build OVMF variable stores (NVRAM presets, Secure Boot keys)',
  usage: 'mvos firmware vars <show|build>',
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'vars',
      summary: 'read or write an OVMF VARS file',
      usage: 'mvos firmware vars <show|build>',
      flags: {},
      flagHelp: {},
      subcommands: [
        {
          name: 'show',
          summary: 'list every variable, decoding boot entries, timeout and key lists',
          usage: 'mvos firmware vars show <file> [--json]',
          flags: {},
          flagHelp: {},
          json: true,
          run: show,
        },
        {
          name: 'build',
          summary: 'write a VARS file from a preset in firmware/presets/',
          usage: 'mvos firmware vars build --preset <name|file.json> --out <file> [--keys DIR] [--template VARS]',
          flags: {
            preset: { type: 'string' },
            out: { type: 'string' },
            keys: { type: 'string' },
            template: { type: 'string' },
          },
          flagHelp: {
            preset: 'a name in firmware/presets/ or a .json path',
            out: 'the VARS file to write (540672 bytes for the 4M layout)',
            keys: 'key folder for Secure Boot presets (default $XDG_CONFIG_HOME/mvos/keys)',
            template: 'a VARS file whose layout and FTW areas to keep (default: an empty 4M store)',
          },
          json: true,
          run: build,
        },
      ],
    },
  ],
};
