import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generate } from 'otplib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtpVerifier } from '../../agent/auth/otp.ts';
import { checkHostConfig } from '../../agent/config.ts';
import { hostConfig } from '../../builder/pipeline/generated.ts';
import { loadRecipe } from '../../builder/recipe/load.ts';
import { resolveHostUsers } from '../../builder/secrets/host-users.ts';
import { enrollOtp, setPassword } from '../../builder/secrets/store.ts';
import { verifyPassword } from '../../common/secrets/password.ts';
import { withTempDir } from '../../common/temp-dir.ts';

// From `mvos otp enroll` to a login: what the builder writes into host.json is what the agent reads and verifies
// against.
test('a recipe with agent users builds a host.json whose sealed secrets and hashes the agent accepts', () =>
  withTempDir('mvos-enroll-', async (dir) => {
    const keyDir = join(dir, 'keys');
    const enrollment = await enrollOtp(keyDir, 'alice', 'totp');
    await setPassword(keyDir, 'alice', 'correct horse');
    const recipeFile = join(dir, 'host.yaml');
    await writeFile(
      recipeFile,
      [
        `extends: ${resolve('recipes/host.yaml')}`,
        'agent:',
        '  ssh:',
        '    listen: 0.0.0.0:22',
        '  users:',
        '    - name: alice',
        '      authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJyNoq4L5bO5jrEluCqOtZDlvbPFlzC5J8WypQiFAhxE ' +
          'alice@laptop"]',
        '      password: true',
        '    - name: ops',
        '      otp: none',
        '',
      ].join('\n'),
    );
    const { recipe, problems } = loadRecipe(recipeFile);
    assert.equal(problems, []);
    assert.equal(
      recipe!.agent.users.map((u) => [u.name, u.otp, u.password]),
      [
        ['alice', 'totp', true],
        ['ops', 'none', false],
      ],
    );
    const users = await resolveHostUsers(recipe!.agent.users, keyDir);
    const json = JSON.parse(JSON.stringify(hostConfig(recipe!, users)));
    const { value, problems: configProblems } = checkHostConfig(json);
    assert.equal(configProblems, []);
    assert.is(value!.agent.secretKeyFile, '/etc/mvos/secret.key');
    assert.is(value!.agent.sshListen, '0.0.0.0:22');
    const alice = value!.agent.users[0];
    assert.ok(alice, 'the first user is in the host config');
    assert.ok(await verifyPassword(alice.passwordHash!, 'correct horse'));
    const now = Date.now();
    const otp = new OtpVerifier(value!.agent.users, users.secretKey, join(dir, 'state'), { now: () => now });
    const code = await generate({ secret: enrollment.secret, epoch: Math.floor(now / 1000) });
    assert.equal(await otp.verify('alice', code), { ok: true });
    assert.equal(await otp.verify('ops', code), { ok: false, reason: 'no-otp' });
    assert.not.ok(JSON.stringify(json).includes(enrollment.secret), 'host.json holds the secret sealed only');
  }));

test('a recipe user with a bad name or key line is refused by the schema', () =>
  withTempDir('mvos-enroll-', async (dir) => {
    const recipeFile = join(dir, 'host.yaml');
    await writeFile(
      recipeFile,
      [
        `extends: ${resolve('recipes/host.yaml')}`,
        'agent:',
        '  users:',
        '    - name: "Alice; rm"',
        '      authorizedKeys: ["not a key"]',
        '',
      ].join('\n'),
    );
    const { recipe, problems } = loadRecipe(recipeFile);
    assert.is(recipe, undefined);
    assert.equal(problems.map((p) => p.path).sort(), ['/agent/users/0/authorizedKeys/0', '/agent/users/0/name']);
  }));

test.run();
