import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTestCode } from '../../common/boundary.ts';
import { FailureError } from '../../common/errors.ts';
import { AGENT_BUNDLE_NAME, bundleAgent, esbuildNodeTarget } from './bundle.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'mvos-bundle-test-'));
const first = await bundleAgent();

test('the target comes from the Debian nodejs version, epoch and revision left out', () => {
  assert.is(esbuildNodeTarget('20.19.2+dfsg-1+deb13u3'), 'node20.19');
  assert.is(esbuildNodeTarget('18.19.0+dfsg-6~deb12u2'), 'node18.19');
  assert.is(esbuildNodeTarget('1:22.1.0-1'), 'node22.1');
  assert.throws(() => esbuildNodeTarget('latest'), /not a Node version/);
});

test('bundling twice gives the same bytes', async () => {
  const second = await bundleAgent();
  assert.ok(first.code.equals(second.code), 'the two bundles differ');
  assert.equal(first.inputs, second.inputs);
});

test('inputs are repo-relative sources: the agent, the builder modules it may use, its npm dependencies, never the pipeline', () => {
  assert.ok(first.inputs.includes('agent/main.ts'));
  assert.ok(first.inputs.includes('common/qemu/kvm.ts'));
  assert.ok(first.inputs.some((f) => f.startsWith('node_modules/execa/')));
  assert.equal(
    first.inputs.filter((f) => f.startsWith('/') || f.includes('..')),
    [],
  );
  assert.equal(
    first.inputs.filter((f) => f.startsWith('builder/pipeline/') || f.startsWith('builder/cli/')),
    [],
  );
  assert.equal(first.inputs.filter(isTestCode), [], 'no test or test support in the bundle');
});

test('the bundle holds no build-machine paths', () => {
  const text = first.code.toString('utf8');
  assert.not.ok(text.includes(root), `contains ${root}`);
  assert.not.ok(text.includes('/work/'), 'contains /work/');
  assert.not.ok(text.includes(`${tmpdir()}/`), `contains ${tmpdir()}/`);
});

test('plain node runs the bundle outside the repository (no node_modules, no flags) and it says it is ready', async () => {
  const bundle = join(dir, AGENT_BUNDLE_NAME);
  await writeFile(bundle, first.code);
  const config = join(dir, 'host.json');
  await writeFile(config, JSON.stringify({ name: 'bundled', version: '9.9.9', stateLabel: 'MVOS-STATE', vms: [] }));
  const child = spawn(
    process.execPath,
    [bundle, '--config', config, '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run'), '--accel', 'tcg'],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve();
    });
    void exited.then((code) => reject(new Error(`bundle exited with ${code}:\n${err}`)));
  });
  child.kill('SIGTERM');
  assert.is(out, 'MVOS-AGENT-READY bundled 9.9.9 accel=tcg\n');
  assert.is(await exited, 0, err);
});

test('an entry that does not build is a FailureError with the file and position', async () => {
  const broken = join(dir, 'broken.ts');
  await writeFile(broken, 'import { nope } from "./does-not-exist.ts";\nnope();\n');
  const error = await bundleAgent({ entry: broken }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, FailureError);
  assert.match(
    (error as Error).message,
    /bundling the agent from .*broken\.ts failed:\n.*broken\.ts:1:\d+ Could not resolve "\.\/does-not-exist\.ts"/,
  );
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.run();
