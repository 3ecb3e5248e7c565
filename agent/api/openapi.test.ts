// Keeps the OpenAPI document true: every routed method and path documented, every documented one routed, real answers
// fit their schemas.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ApiAnswers } from '../../common/api-types.ts';
import { FakeControls } from '../fake-controls.test-support.ts';
import { call, login, startFixture } from './fixture.test-support.ts';
import { OPENAPI } from './openapi.ts';
import { apiRoutes } from './server.ts';

const routes = apiRoutes(new FakeControls(), () => ({}) as never, undefined);
const paths = OPENAPI.paths as Record<
  string,
  Record<
    string,
    {
      responses: Record<string, { content?: Record<string, { schema: object }> }>;
      parameters?: Array<{ name: string; in: string }>;
    }
  >
>;

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ $id: 'api', components: OPENAPI.components });

function schemaOf(path: string, method: string, status: number): object {
  const content = paths[path]![method]!.responses[String(status)]!.content!;
  return content['application/json']!.schema;
}

function check(path: string, method: string, status: number, body: unknown): void {
  const schema = JSON.parse(
    JSON.stringify(schemaOf(path, method, status)).replaceAll('"#/components', '"api#/components'),
  );
  const validate = ajv.compile(schema);
  assert.ok(
    validate(body),
    `${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body, null, 2)}`,
  );
}

test('every route in the table is documented with its method', () => {
  for (const route of routes)
    assert.ok(paths[route.path]?.[route.method.toLowerCase()], `${route.method} ${route.path} is not in openapi.ts`);
});

test('every documented method and path is routed', () => {
  const routed = new Set(routes.map((r) => `${r.method} ${r.path}`));
  for (const [path, methods] of Object.entries(paths)) {
    for (const method of Object.keys(methods))
      assert.ok(
        routed.has(`${method.toUpperCase()} ${path}`),
        `${method.toUpperCase()} ${path} is documented but not routed`,
      );
  }
});

test('every path parameter is declared, and every declared one is in the path', () => {
  for (const [path, methods] of Object.entries(paths)) {
    const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    for (const [method, op] of Object.entries(methods)) {
      const declared = (op.parameters ?? [])
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort();
      assert.equal(declared, inPath, `${method} ${path}`);
    }
  }
});

test('every response schema reference resolves', () => {
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      for (const status of Object.keys(op.responses)) {
        const content = op.responses[status]!.content?.['application/json'];
        if (content)
          assert.type(
            ajv.compile(JSON.parse(JSON.stringify(content.schema).replaceAll('"#/components', '"api#/components'))),
            'function',
            `${method} ${path} ${status}`,
          );
      }
    }
  }
});

test('real answers match their documented shapes', async () => {
  const fx = await startFixture();
  try {
    const client = await login(fx, 'alice');
    const get = async (path: string, doc: string) => {
      const answer = await client.call('GET', path);
      check(doc, 'get', answer.status, answer.json);
      return answer.json;
    };
    await get('/status', '/status');
    await get('/api/host', '/api/host');
    await get('/api/vms', '/api/vms');
    await get('/api/vms/controller', '/api/vms/{name}');
    await get('/api/vms/nope', '/api/vms/{name}');
    await get('/api/vms/web/checkpoints', '/api/vms/{name}/checkpoints');
    await get('/api/rescue', '/api/rescue');
    await get('/api/networks', '/api/networks');
    await get('/api/vms/web/net', '/api/vms/{name}/net');
    await get('/api/vms/controller/net', '/api/vms/{name}/net');
    await get('/api/session', '/api/session');
    const send = async (method: string, path: string, doc: string, body?: unknown) => {
      const answer = await client.call(method, path, { body });
      check(doc, method.toLowerCase(), answer.status, answer.json);
      return answer;
    };
    assert.is((await send('POST', '/api/vms/web/stop', '/api/vms/{name}/stop')).status, 200);
    assert.is((await send('POST', '/api/vms/web/stop', '/api/vms/{name}/stop')).status, 409);
    const made = await send('POST', '/api/vms/web/checkpoints', '/api/vms/{name}/checkpoints', { label: 'x' });
    assert.is(made.status, 201);
    const { id } = made.json as ApiAnswers['POST /api/vms/{name}/checkpoints'];
    assert.is(
      (
        await send(
          'POST',
          '/api/vms/web/checkpoints/web-base/rollback',
          '/api/vms/{name}/checkpoints/{id}/rollback',
          {},
        )
      ).status,
      200,
    );
    assert.is(
      (
        await send('POST', `/api/vms/web/checkpoints/${id}/pin`, '/api/vms/{name}/checkpoints/{id}/pin', {
          pinned: false,
        })
      ).status,
      200,
    );
    assert.is((await send('DELETE', `/api/vms/web/checkpoints/${id}`, '/api/vms/{name}/checkpoints/{id}')).status, 200);
    assert.is(
      (await send('DELETE', '/api/vms/web/checkpoints/web-base', '/api/vms/{name}/checkpoints/{id}')).status,
      409,
    );
    const rules = [{ action: 'allow', proto: 'tcp', to: { name: 'www.example.test' }, ports: [443, 443] }];
    assert.is((await send('POST', '/api/vms/web/rules', '/api/vms/{name}/rules', { rules })).status, 200);
    assert.is(
      (await send('POST', '/api/vms/web/rules', '/api/vms/{name}/rules', { rules: [{ action: 'x' }] })).status,
      400,
    );
    assert.is((await send('POST', '/api/rescue', '/api/rescue', { reason: 'test' })).status, 200);
    assert.is((await send('POST', '/login', '/login', {})).status, 400);
    const denied = await call(fx.url, 'GET', '/api/vms');
    check('/api/vms', 'get', 401, denied.json);
    const answer = await client.call('GET', '/openapi.json');
    assert.equal(answer.json, JSON.parse(JSON.stringify(OPENAPI)));
  } finally {
    await fx.close();
  }
});

test.run();
