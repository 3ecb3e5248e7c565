// The control endpoints: each row turns one HTTP request into one call on Controls.
import type { ContainerRequest, Controls } from '../controls.ts';
import type { AgentStatus } from '../status.ts';
import { HttpError, sendText } from './http.ts';
import type { Route, RouteContext } from './router.ts';
import { streamConsole } from './stream.ts';

function optionalString(body: Record<string, unknown>, key: string, max = 200): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max) throw new HttpError(400, `"${key}" must be a string of at most ${max} characters`);
  return value;
}

function optionalStrings(body: Record<string, unknown>, key: string): string[] | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > 256 || !value.every((v) => typeof v === 'string' && v.length <= 4096)) throw new HttpError(400, `"${key}" must be a list of strings`);
  return value as string[];
}

function optionalInteger(body: Record<string, unknown>, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value)) throw new HttpError(400, `"${key}" must be an integer`);
  return value as number;
}

function containerRequest(body: Record<string, unknown>): ContainerRequest {
  const name = optionalString(body, 'name', 31);
  const image = optionalString(body, 'image', 4096);
  if (!name || !image) throw new HttpError(400, '"name" and "image" are required');
  const fields = {
    entrypoint: optionalStrings(body, 'entrypoint'),
    cmd: optionalStrings(body, 'cmd'),
    env: optionalStrings(body, 'env'),
    workingDir: optionalString(body, 'workingDir', 4096),
    cpus: optionalInteger(body, 'cpus'),
    memoryMiB: optionalInteger(body, 'memoryMiB'),
  };
  return { name, image, ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) };
}

function requiredBoolean(body: Record<string, unknown>, key: string): boolean {
  if (typeof body[key] !== 'boolean') throw new HttpError(400, `"${key}" must be true or false`);
  return body[key] as boolean;
}

function tailBytes(query: URLSearchParams): number | undefined {
  const tail = query.get('tail');
  if (tail === null) return undefined;
  if (!/^[0-9]{1,9}$/.test(tail)) throw new HttpError(400, `tail must be a number of bytes (got "${tail}")`);
  return Number(tail);
}

// Every control endpoint, in the order the OpenAPI document lists them.
export function controlRoutes(controls: Controls, status: () => AgentStatus): Route[] {
  const vm = (ctx: RouteContext) => {
    const found = controls.getVm(ctx.params.name!);
    if (!found) throw new HttpError(404, `no VM named "${ctx.params.name}"`);
    return found;
  };
  const action = (verb: 'start' | 'stop' | 'restart', call: (name: string) => Promise<unknown>): Route => ({
    method: 'POST',
    path: `/api/vms/{name}/${verb}`,
    summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} a VM; answers once it is done`,
    access: 'session',
    handle: async (ctx) => ({ body: await call(ctx.params.name!) }),
  });
  return [
    { method: 'GET', path: '/status', summary: 'The agent status (the same document as status.json)', access: 'session', handle: () => ({ body: status() }) },
    { method: 'GET', path: '/api/host', summary: 'Host facts: CPU topology, KVM or TCG, memory, versions, rescue state', access: 'session', handle: async () => ({ body: await controls.hostFacts() }) },
    { method: 'GET', path: '/api/vms', summary: 'Every VM with its state and health', access: 'session', handle: () => ({ body: controls.listVms() }) },
    { method: 'GET', path: '/api/vms/{name}', summary: 'One VM: state, CPU pinning plan, health history', access: 'session', handle: (ctx) => ({ body: vm(ctx) }) },
    action('start', (name) => controls.startVm(name)),
    action('stop', (name) => controls.stopVm(name)),
    action('restart', (name) => controls.restartVm(name)),
    {
      method: 'GET',
      path: '/api/vms/{name}/console',
      summary: 'The serial console log so far (?tail=BYTES for its end)',
      access: 'session',
      handle: async (ctx) => {
        const tail = tailBytes(ctx.query);
        const text = await controls.consoleLog(ctx.params.name!, tail === undefined ? undefined : { tailBytes: tail });
        sendText(ctx.res, 200, 'text/plain', text);
        return undefined;
      },
    },
    {
      method: 'GET',
      path: '/api/vms/{name}/console/stream',
      summary: 'The console live, as Server-Sent Events (the last 64 KiB first, then output as it arrives)',
      access: 'session',
      handle: async (ctx) => {
        vm(ctx);
        await streamConsole(controls, ctx.params.name!, ctx.req, ctx.res);
        return undefined;
      },
    },
    { method: 'GET', path: '/api/vms/{name}/checkpoints', summary: "A VM's disk checkpoints", access: 'session', handle: async (ctx) => ({ body: await controls.listCheckpoints(ctx.params.name!) }) },
    {
      method: 'POST',
      path: '/api/vms/{name}/checkpoints',
      summary: 'Take a checkpoint of a VM disk (optional label)',
      access: 'session',
      handle: async (ctx) => {
        const created = await controls.createCheckpoint(ctx.params.name!, optionalString(ctx.body, 'label'));
        ctx.auditDetail = created.id;
        return { status: 201, body: created };
      },
    },
    {
      method: 'POST',
      path: '/api/vms/{name}/checkpoints/{id}/rollback',
      summary: 'Roll the VM disk back to a checkpoint (restart: true stops and starts a running VM around it)',
      access: 'session',
      handle: async (ctx) => {
        const restart = ctx.body.restart === undefined ? false : requiredBoolean(ctx.body, 'restart');
        await controls.rollback(ctx.params.name!, ctx.params.id!, { restart });
        return { body: { rolledBackTo: ctx.params.id, vm: vm(ctx) } };
      },
    },
    {
      method: 'POST',
      path: '/api/vms/{name}/checkpoints/{id}/pin',
      summary: 'Pin or unpin a checkpoint (pinned ones are never removed)',
      access: 'session',
      handle: async (ctx) => {
        const pinned = requiredBoolean(ctx.body, 'pinned');
        ctx.auditDetail = `pinned=${pinned}`;
        await controls.pinCheckpoint(ctx.params.name!, ctx.params.id!, pinned);
        return { body: { id: ctx.params.id, pinned } };
      },
    },
    {
      method: 'DELETE',
      path: '/api/vms/{name}/checkpoints/{id}',
      summary: 'Delete a checkpoint',
      access: 'session',
      handle: async (ctx) => {
        await controls.deleteCheckpoint(ctx.params.name!, ctx.params.id!);
        return { body: { deleted: ctx.params.id } };
      },
    },
    {
      method: 'POST',
      path: '/api/containers',
      summary: 'Run an OCI image (a layout folder or docker-save tarball on the host) once, in a microVM',
      access: 'session',
      handle: async (ctx) => {
        const request = containerRequest(ctx.body);
        ctx.auditDetail = `${request.name} ${request.image}`;
        return { status: 201, body: await controls.runContainer(request) };
      },
    },
    { method: 'GET', path: '/api/rescue', summary: 'Whether the host runs on its rescue VM, and why', access: 'session', handle: () => ({ body: controls.rescueState() }) },
    {
      method: 'POST',
      path: '/api/rescue',
      summary: 'Switch to the rescue VM (stops the controller), recording the reason',
      access: 'session',
      handle: async (ctx) => {
        const reason = optionalString(ctx.body, 'reason', 500);
        if (!reason?.trim()) throw new HttpError(400, '"reason" is required: say why the host goes to rescue');
        ctx.auditDetail = reason;
        return { body: await controls.rescue(reason) };
      },
    },
  ];
}
