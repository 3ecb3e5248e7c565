// The builder and the agent are two programs: neither imports the other; what both need lives in common/, which imports
// neither. Test support (`*.test-support.ts`) is for tests only: no product file imports it, so the agent bundle never
// carries it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crossingImports, isTestCode, testCodeImports } from './boundary.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string, found: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, found);
    else if (/\.(ts|mjs|js)$/.test(name)) found.push(path);
  }
  return found;
}

test('no file in builder/, agent/ or common/ imports across the boundary', () => {
  const crossings = ['builder', 'agent', 'common'].flatMap((top) =>
    sources(join(root, top)).flatMap((file) => crossingImports(relative(root, file), readFileSync(file, 'utf8'))),
  );
  assert.equal(crossings, []);
});

test('no product file in builder/, agent/ or common/ imports a test or test support', () => {
  const found = ['builder', 'agent', 'common'].flatMap((top) =>
    sources(join(root, top)).flatMap((file) => testCodeImports(relative(root, file), readFileSync(file, 'utf8'))),
  );
  assert.equal(found, []);
});

test('a product file importing test support is found, with its file and line; test code may import it', () => {
  const text = [
    "import { startVm } from './supervisor.ts';",
    "import { FakeControls } from '../fake-controls.test-support.ts';",
    "export { suite } from './routes.test.ts';",
    "const child = fileURLToPath(new URL('./serve-fixture.test-support.ts', import.meta.url));",
    "const main = fileURLToPath(new URL('../main.ts', import.meta.url));",
  ].join('\n');
  assert.equal(testCodeImports('agent/api/server.ts', text), [
    'agent/api/server.ts:2 imports agent/fake-controls.test-support.ts',
    'agent/api/server.ts:3 imports agent/api/routes.test.ts',
    'agent/api/server.ts:4 imports agent/api/serve-fixture.test-support.ts',
  ]);
  assert.equal(testCodeImports('agent/api/fixture.test-support.ts', text), []);
  assert.equal(testCodeImports('agent/api/api.test.ts', text), []);
  assert.equal(testCodeImports('qa/lib/agent-run.ts', text), [], 'qa/ is all test code');
  assert.ok(isTestCode('builder/media/media-input.test-support.ts'));
  assert.not.ok(isTestCode('agent/api/testing.ts'), 'only the suffix marks test support');
});

test('a deliberate violation is found, with its file and line', () => {
  const text =
    "import { x } from '../y.ts';\nexport { hashPassword } from '../../builder/secrets/password.ts';\nconst m = await import('../../agent/main.ts');\n";
  assert.equal(crossingImports('agent/auth/password.ts', text), [
    'agent/auth/password.ts:2 imports builder/secrets/password.ts',
  ]);
  assert.equal(crossingImports('builder/cli/x.ts', text), ['builder/cli/x.ts:3 imports agent/main.ts']);
  assert.equal(crossingImports('common/x.ts', "import '../builder/a.ts';\nimport '../agent/b.ts';\nimport './c.ts';"), [
    'common/x.ts:1 imports builder/a.ts',
    'common/x.ts:2 imports agent/b.ts',
  ]);
});

test.run();
