// The builder and the agent are two programs: neither imports the other; what both need lives in common/, which imports neither.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crossingImports } from './boundary.ts';

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

test('a deliberate violation is found, with its file and line', () => {
  const text = "import { x } from '../y.ts';\nexport { hashPassword } from '../../builder/secrets/password.ts';\nconst m = await import('../../agent/main.ts');\n";
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
