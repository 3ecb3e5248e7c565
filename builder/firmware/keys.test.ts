import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certificateName } from './der.ts';
import { defaultKeyDir, initKeys, keyFiles, loadKeySet, MVOS_OWNER_GUID } from './keys.ts';
import { parseSignatureLists } from './siglist.ts';

test('the default key folder is under XDG_CONFIG_HOME', () => {
  assert.is(defaultKeyDir({ XDG_CONFIG_HOME: '/x' }), '/x/mvos/keys');
});

test('keys init: PK, KEK, db with exports, all 0600, named "Multiverse …"; a second init refuses', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-keys-'));
  try {
    const files = await initKeys(dir);
    assert.is(files.length, 15);
    for (const file of files) assert.is(statSync(file).mode & 0o777, 0o600, file);
    const certs = await loadKeySet(dir);
    assert.is(certificateName(certs.PK), 'Multiverse PK');
    assert.is(certificateName(certs.db), 'Multiverse db');
    const esl = parseSignatureLists(readFileSync(keyFiles(dir, 'KEK').esl));
    assert.is(esl[0]!.owner, MVOS_OWNER_GUID);
    assert.ok(esl[0]!.data.equals(certs.KEK));
    assert.ok(existsSync(keyFiles(dir, 'db').auth));
    try {
      await initKeys(dir);
      assert.unreachable('a second init must refuse');
    } catch (error) {
      assert.match(String(error), /already holds/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
