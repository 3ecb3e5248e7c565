// agent.api.tls: key-folder from the key folder to host.json; self-signed, insecure and names as host.json carries them
// to the agent.

import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkHostConfig } from '../../agent/config.ts';
import { hostConfig } from '../../builder/pipeline/generated.ts';
import { loadRecipe } from '../../builder/recipe/load.ts';
import { apiTlsFiles, IMAGE_API_CERT, IMAGE_API_KEY, readApiTls } from '../../builder/secrets/api-tls.ts';
import { refused } from '../../common/refused.test-support.ts';
import { writeSelfSigned } from '../../common/self-signed.test-support.ts';

const dir = await mkdtemp(join(tmpdir(), 'mvos-api-tls-'));

async function recipeWith(api: string[]) {
  const file = join(dir, `host-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(
    file,
    [`extends: ${resolve('recipes/host.yaml')}`, 'agent:', '  api:', ...api.map((l) => `    ${l}`), ''].join('\n'),
  );
  const { recipe, problems } = loadRecipe(file);
  assert.equal(problems, []);
  return recipe!;
}

async function makePair(keyDir: string, san: string): Promise<void> {
  const files = apiTlsFiles(keyDir);
  await mkdir(join(keyDir, 'agent'), { recursive: true });
  writeSelfSigned(files, '/CN=mvos test', san, 2);
}

test("key-folder: the pair is read and checked, and host.json names the image's copies", async () => {
  const keyDir = join(dir, 'keys-good');
  await makePair(keyDir, 'DNS:mvos.example.net,IP:192.0.2.10');
  const recipe = await recipeWith(['listen: 192.0.2.10:8443', 'tls: key-folder', 'names: [mvos.example.net]']);
  const pair = await readApiTls(keyDir, recipe.agent);
  assert.match(pair.cert.toString(), /BEGIN CERTIFICATE/);
  assert.match(pair.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const { value, problems } = checkHostConfig(JSON.parse(JSON.stringify(hostConfig(recipe))));
  assert.equal(problems, []);
  assert.equal(value!.agent.apiTls, { source: 'key-folder', certFile: IMAGE_API_CERT, keyFile: IMAGE_API_KEY });
  assert.equal(value!.agent.apiNames, ['mvos.example.net']);
});

test('key-folder: missing files, a key open to others, a certificate for other names are refused before the image is built', async () => {
  const recipe = await recipeWith(['listen: 192.0.2.10:8443', 'tls: key-folder', 'names: [mvos.example.net]']);
  await refused(readApiTls(join(dir, 'keys-none'), recipe.agent), /has no TLS certificate/);
  const open = join(dir, 'keys-open');
  await makePair(open, 'DNS:mvos.example.net,IP:192.0.2.10');
  await chmod(apiTlsFiles(open).key, 0o644);
  await refused(readApiTls(open, recipe.agent), /open to group or others/);
  const other = join(dir, 'keys-other');
  await makePair(other, 'DNS:elsewhere.example.net');
  await refused(readApiTls(other, recipe.agent), /does not cover 192\.0\.2\.10, mvos\.example\.net/);
});

test('self-signed and insecure reach host.json as the agent reads them', async () => {
  const selfSigned = checkHostConfig(
    JSON.parse(
      JSON.stringify(hostConfig(await recipeWith(['listen: 0.0.0.0:8443', 'tls: self-signed', 'names: [h.lan]']))),
    ),
  );
  assert.equal(selfSigned.problems, []);
  assert.equal(
    [selfSigned.value!.agent.apiTls, selfSigned.value!.agent.apiNames],
    [{ source: 'self-signed' }, ['h.lan']],
  );
  const insecure = checkHostConfig(
    JSON.parse(JSON.stringify(hostConfig(await recipeWith(['listen: 0.0.0.0:8080', 'insecure: true'])))),
  );
  assert.equal(insecure.problems, []);
  assert.is(insecure.value!.agent.apiInsecure, true);
  assert.is(insecure.value!.agent.apiTls, undefined);
});

test.after(() => rm(dir, { recursive: true, force: true }));

test.run();
