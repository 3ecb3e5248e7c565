import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../common/errors.ts';
import { checkHostConfig, readHostConfig } from './config.ts';

const vm = {
  name: 'controller',
  role: 'controller',
  launch: 'vm',
  cpus: 2,
  memoryMiB: 512,
  pin: [1, 2],
  kernel: '/k',
  initrd: '/i',
  cmdline: 'console=ttyS0',
  firmware: 'ovmf',
  health: { deadlineSeconds: 300, marker: 'MVOS-GUEST-READY' },
};
const good = { name: 'h', version: '0.1.0', stateLabel: 'MVOS-STATE', agent: {}, vms: [vm] };

test('a good config comes back typed; unknown fields are fine and left out', () => {
  const { value, problems } = checkHostConfig({ ...good, later: 1, vms: [{ ...vm, checkpoints: [] }] });
  assert.equal(problems, []);
  assert.is(value?.vms[0]?.pin?.length, 2);
  assert.is((value as unknown as Record<string, unknown>).later, undefined);
});

test('agent is optional; an empty cmdline is allowed', () => {
  const { value } = checkHostConfig({ ...good, agent: undefined, vms: [{ ...vm, cmdline: '' }] });
  assert.equal(value?.agent, { users: [] });
  assert.is(value?.vms[0]?.cmdline, '');
});

test('null stands for an absent optional field, as the image build writes them', () => {
  const { value, problems } = checkHostConfig({
    ...good,
    agent: { apiListen: null, sshListen: null },
    vms: [{ ...vm, pin: null, fallback: null }],
  });
  assert.equal(problems, []);
  assert.equal(value?.agent, { users: [] });
  assert.not.ok(value && 'pin' in value.vms[0]!);
});

test('every problem at once, each with its JSON path', () => {
  const { value, problems } = checkHostConfig({
    version: 3,
    stateLabel: 'S',
    agent: { apiListen: 8443 },
    vms: [{ ...vm, role: 'boss', memoryMiB: 8, pin: [1] }, { ...vm, health: { marker: 'X' } }, 'nope'],
  });
  assert.is(value, undefined);
  assert.equal(
    problems.map((p) => `${p.path}: ${p.message}`),
    [
      '/name: missing (a string is required)',
      '/version: must be a non-empty string (got 3)',
      '/agent/apiListen: must be a non-empty string (got 8443)',
      '/vms/0/role: must be one of controller, rescue, application, utility (got "boss")',
      '/vms/0/memoryMiB: must be an integer ≥ 16 (got 8)',
      '/vms/0/pin: pins 1 CPUs for 2 vCPUs (one per vCPU)',
      '/vms/1/health/deadlineSeconds: missing (an integer ≥ 1 is required)',
      '/vms/2: must be an object (got "nope")',
      '/vms/1/name: "controller" is used by another VM too',
    ],
  );
});

test('TLS, insecure and names of the TCP API come back typed', () => {
  const files = { source: 'key-folder', certFile: '/etc/mvos/api-tls.crt', keyFile: '/etc/mvos/api-tls.key' };
  const { value, problems } = checkHostConfig({
    ...good,
    agent: { apiListen: '0.0.0.0:8443', apiTls: files, apiInsecure: false, apiNames: ['mvos.example.net'] },
  });
  assert.equal(problems, []);
  assert.equal(value?.agent, { apiListen: '0.0.0.0:8443', apiTls: files, apiNames: ['mvos.example.net'], users: [] });
  assert.equal(
    checkHostConfig({ ...good, agent: { apiListen: '[::]:8443', apiTls: { source: 'self-signed' } } }).value?.agent
      .apiTls,
    { source: 'self-signed' },
  );
  assert.is(
    checkHostConfig({ ...good, agent: { apiListen: '0.0.0.0:8080', apiInsecure: true } }).value?.agent.apiInsecure,
    true,
  );
});

test('plain HTTP off loopback without apiInsecure is refused at start (defence in depth behind the recipe rule)', () => {
  for (const apiListen of ['0.0.0.0:8443', '192.0.2.10:80', '[::]:8443']) {
    const { value, problems } = checkHostConfig({ ...good, agent: { apiListen, apiTls: null, apiInsecure: false } });
    assert.is(value, undefined, apiListen);
    assert.equal(
      problems.map((p) => p.path),
      ['/agent/apiListen'],
      apiListen,
    );
    assert.match(problems[0]!.message, /plain HTTP/);
  }
  assert.equal(checkHostConfig({ ...good, agent: { apiListen: '127.0.0.1:8443' } }).problems, []);
  assert.equal(
    checkHostConfig({ ...good, agent: { apiListen: '0.0.0.0:8443', apiTls: { source: 'key-folder' } } }).problems.map(
      (p) => `${p.path}: ${p.message}`,
    ),
    ['/agent/apiTls/certFile: missing (a string is required)', '/agent/apiTls/keyFile: missing (a string is required)'],
  );
});

test('the fleet: a broker off this machine only over TLS, with its CA; a bad id, URL or interval refused', () => {
  const fleet = (f: object) => checkHostConfig({ ...good, agent: { fleet: f } });
  const base = { host: 'lab-1', seedFile: '/etc/mvos/fleet.nk' };
  assert.equal(
    fleet({ ...base, servers: ['tls://broker.example.net:4222'], caFile: '/etc/mvos/fleet-ca.pem' }).value?.agent.fleet,
    {
      servers: ['tls://broker.example.net:4222'],
      host: 'lab-1',
      seedFile: '/etc/mvos/fleet.nk',
      intervalSeconds: 5,
      caFile: '/etc/mvos/fleet-ca.pem',
    },
  );
  assert.equal(fleet({ ...base, servers: ['nats://127.0.0.1:4222', 'nats://[::1]:4222'] }).problems, []);
  const clear = fleet({ ...base, servers: ['nats://192.0.2.1:4222'] }).problems;
  assert.match(clear[0]?.message ?? '', /a broker off this machine is reached over TLS/);
  assert.equal(
    fleet({ host: 'Lab 1', seedFile: '/s', servers: ['http://x', 'tls://ok:1'], intervalSeconds: 900 }).problems.map(
      (p) => p.path,
    ),
    ['/agent/fleet/servers', '/agent/fleet/host', '/agent/fleet/intervalSeconds'],
  );
});

test('a config that is not an object, or has no vms list', () => {
  assert.equal(
    checkHostConfig([]).problems.map((p) => p.message),
    ['must be an object (got a list)'],
  );
  assert.equal(
    checkHostConfig({ ...good, vms: undefined }).problems.map((p) => `${p.path}: ${p.message}`),
    ['/vms: missing (a list of VMs is required)'],
  );
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => assert.unreachable('resolved'),
    (error: Error) => error,
  ) as Promise<Error>;
}

test('readHostConfig: missing file and bad JSON are UserErrors naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-config-test-'));
  try {
    const missing = await rejection(readHostConfig(join(dir, 'none.json')));
    assert.instance(missing, UserError);
    assert.match(missing.message, /cannot read the host config .*none\.json: no such file/);
    await writeFile(join(dir, 'bad.json'), '{');
    const bad = await rejection(readHostConfig(join(dir, 'bad.json')));
    assert.instance(bad, UserError);
    assert.match(bad.message, /bad\.json is not valid JSON/);
    await writeFile(join(dir, 'good.json'), JSON.stringify(good));
    assert.is((await readHostConfig(join(dir, 'good.json'))).name, 'h');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
