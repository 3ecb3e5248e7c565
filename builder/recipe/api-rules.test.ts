// agent.api in a recipe: plain HTTP only on loopback unless `insecure: true`; TLS and names reach the typed recipe.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadRecipe } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'mvos-api-rules-'));

function load(api: string) {
  const file = join(dir, `host-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `kind: host\nname: test-host\nversion: 0.1.0\nkernel:\n  package: linux-image-amd64\nagent:\n  api:\n${api}`,
  );
  return loadRecipe(file, dir);
}

test('plain HTTP off loopback is a positioned problem at listen, with a hint naming tls and insecure', () => {
  for (const listen of ['0.0.0.0:8443', '192.0.2.10:8443', '[::]:8443', '[2001:db8::1]:8443']) {
    const { recipe, problems } = load(`    listen: "${listen}"\n`);
    assert.not.ok(recipe, listen);
    assert.is(problems.length, 1, listen);
    const [problem] = problems;
    assert.is(problem!.path, '/agent/api/listen');
    assert.equal([problem!.location?.line, problem!.location?.col], [8, 5]);
    assert.match(problem!.message, /plain HTTP/);
    assert.match(problem!.hint!, /tls: self-signed/);
    assert.match(problem!.hint!, /insecure: true/);
  }
});

test('plain HTTP on loopback needs nothing more', () => {
  for (const listen of ['127.0.0.1:8443', '127.9.9.9:80', '[::1]:8443']) {
    const { recipe, problems } = load(`    listen: "${listen}"\n`);
    assert.equal(problems, [], listen);
    assert.is(recipe!.agent.apiListen, listen);
    assert.is(recipe!.agent.apiInsecure, false);
    assert.is(recipe!.agent.apiTls, undefined);
  }
});

test('tls (self-signed or from the key folder) or insecure: true allow any address; names are kept', () => {
  const selfSigned = load(
    '    listen: 0.0.0.0:8443\n    tls: self-signed\n    names: [mvos.example.net, host-1.lan]\n',
  );
  assert.equal(selfSigned.problems, []);
  assert.is(selfSigned.recipe!.agent.apiTls, 'self-signed');
  assert.equal(selfSigned.recipe!.agent.apiNames, ['mvos.example.net', 'host-1.lan']);
  const keyFolder = load('    listen: 192.0.2.10:443\n    tls: key-folder\n');
  assert.equal(keyFolder.problems, []);
  assert.is(keyFolder.recipe!.agent.apiTls, 'key-folder');
  const insecure = load('    listen: 0.0.0.0:8080\n    insecure: true\n');
  assert.equal(insecure.problems, []);
  assert.is(insecure.recipe!.agent.apiInsecure, true);
});

test('insecure: false does not count, and insecure: true beside tls is a contradiction', () => {
  assert.is(load('    listen: 0.0.0.0:8080\n    insecure: false\n').problems[0]?.path, '/agent/api/listen');
  const both = load('    listen: 0.0.0.0:8443\n    tls: self-signed\n    insecure: true\n');
  assert.is(both.problems.length, 1);
  assert.is(both.problems[0]!.path, '/agent/api/insecure');
  assert.match(both.problems[0]!.message, /tls/);
});

test('a name must be a DNS name (no IP, no wildcard, no port)', () => {
  for (const name of ['192.0.2.1:80', '*.example.net', 'Upper.Example', 'a..b']) {
    const { problems } = load(`    listen: 127.0.0.1:8443\n    names: ["${name}"]\n`);
    assert.is(problems[0]?.path, '/agent/api/names/0', name);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
