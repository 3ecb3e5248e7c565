// `mvos firmware vars show|build` and `mvos keys init` through the real launcher.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runMvos } from '../mvos.test-support.ts';

const MS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

const mvos = (env: Record<string, string>, ...args: string[]) => runMvos(args, { env });

test("vars show on Debian's OVMF_VARS_4M.ms.fd names the Microsoft keys", () => {
  if (!existsSync(MS)) return console.log('  skipped: ovmf is not installed');
  const { code, stdout, stderr } = mvos({}, 'firmware', 'vars', 'show', MS);
  assert.is(code, 0, stderr);
  assert.match(stdout, /^KEK {2}8be4df61-93ca-11d2-aa0d-00e098032b8c {2}NV\+BS\+RT\+AT/m);
  assert.match(stdout, /^db {2}d719b2cb-3d3a-4596-a3bc-dad00e67656f {2}NV\+BS\+RT\+AT/m);
  assert.match(stdout, /Microsoft Corporation KEK CA 2011/);
  assert.match(stdout, /Microsoft Windows Production PCA 2011/);
  assert.match(stdout, /Microsoft Corporation UEFI CA 2011/);
  const json = JSON.parse(mvos({}, 'firmware', 'vars', 'show', MS, '--json').stdout);
  assert.ok(json.variables.some((v: { name: string }) => v.name === 'dbx'));
});

test('keys init then vars build --preset secureboot: our keys are enrolled', () => {
  const home = mkdtempSync(join(tmpdir(), 'mvos-cli-fw-'));
  try {
    const env = { XDG_CONFIG_HOME: home };
    assert.is(mvos(env, 'keys', 'init').code, 0);
    const out = join(home, 'vm.vars.fd');
    const built = mvos(env, 'firmware', 'vars', 'build', '--preset', 'secureboot', '--out', out);
    assert.is(built.code, 0, built.stderr);
    const shown = mvos(env, 'firmware', 'vars', 'show', out).stdout;
    for (const name of ['Multiverse PK', 'Multiverse KEK', 'Multiverse db']) assert.ok(shown.includes(name), name);
    const missing = mvos(
      { XDG_CONFIG_HOME: join(home, 'nothing') },
      'firmware',
      'vars',
      'build',
      '--preset',
      'secureboot',
      '--out',
      out,
    );
    assert.is.not(missing.code, 0);
    assert.match(missing.stderr, /mvos keys init/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
