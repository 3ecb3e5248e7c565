// The control endpoints: each row turns one HTTP request into one call on Controls.
import type { ContainerRequest, Controls, OnionView, VmView } from '../controls.ts';
import type { AgentStatus } from '../status.ts';
import { HttpError, sendText } from './http.ts';
import { jsonRoute, type Route, type RouteContext } from './router.ts';
import { streamConsole } from './stream.ts';

function optionalString(body: Record<string, unknown>, key: string, max = 200): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max)
    throw new HttpError(400, `"${key}" must be a string of at most ${max} characters`);
  return value;
}

function optionalStrings(body: Record<string, unknown>, key: string): string[] | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > 256 || !value.every((v) => typeof v === 'string' && v.length <= 4096))
    throw new HttpError(400, `"${key}" must be a list of strings`);
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

// The onion view, or 404 on a host that publishes none.
function onion(view: OnionView | undefined): OnionView {
  if (!view) throw new HttpError(404, 'this host publishes no onion service (host recipe agent.onion)');
  return view;
}

// Every control endpoint, in the order the OpenAPI document lists them.
export function controlRoutes(controls: Controls, status: () => AgentStatus): Route[] {
  const vm = (ctx: RouteContext) => {
    const found = controls.getVm(ctx.params.name!);
    if (!found) throw new HttpError(404, `no VM named "${ctx.params.name}"`);
    return found;
  };
  const session = { access: 'session' } as const;
  const action = (verb: 'start' | 'stop' | 'restart', call: (name: string) => Promise<VmView>): Route =>
    jsonRoute(
      `POST /api/vms/{name}/${verb}`,
      { ...session, summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} a VM; answers once it is done` },
      async (ctx) => ({ body: await call(ctx.params.name!) }),
    );
  return [
    jsonRoute('GET /status', { ...session, summary: 'The agent status (the same document as status.json)' }, () => ({
      body: status(),
    })),
    jsonRoute(
      'GET /api/host',
      { ...session, summary: 'Host facts: CPU topology, KVM or TCG, memory, versions, rescue state' },
      async () => ({ body: await controls.hostFacts() }),
    ),
    jsonRoute('GET /api/vms', { ...session, summary: 'Every VM with its state and health' }, () => ({
      body: controls.listVms(),
    })),
    jsonRoute(
      'GET /api/vms/{name}',
      { ...session, summary: 'One VM: state, CPU pinning plan, health history' },
      (ctx) => ({ body: vm(ctx) }),
    ),
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
    jsonRoute('GET /api/vms/{name}/checkpoints', { ...session, summary: "A VM's disk checkpoints" }, async (ctx) => ({
      body: await controls.listCheckpoints(ctx.params.name!),
    })),
    jsonRoute(
      'POST /api/vms/{name}/checkpoints',
      { ...session, summary: 'Take a checkpoint of a VM disk (optional label)' },
      async (ctx) => {
        const created = await controls.createCheckpoint(ctx.params.name!, optionalString(ctx.body, 'label'));
        ctx.auditDetail = created.id;
        return { status: 201, body: created };
      },
    ),
    jsonRoute(
      'POST /api/vms/{name}/checkpoints/{id}/rollback',
      {
        ...session,
        summary: 'Roll the VM disk back to a checkpoint (restart: true stops and starts a running VM around it)',
      },
      async (ctx) => {
        const restart = ctx.body.restart === undefined ? false : requiredBoolean(ctx.body, 'restart');
        await controls.rollback(ctx.params.name!, ctx.params.id!, { restart });
        return { body: { rolledBackTo: ctx.params.id!, vm: vm(ctx) } };
      },
    ),
    jsonRoute(
      'POST /api/vms/{name}/checkpoints/{id}/pin',
      { ...session, summary: 'Pin or unpin a checkpoint (pinned ones are never removed)' },
      async (ctx) => {
        const pinned = requiredBoolean(ctx.body, 'pinned');
        ctx.auditDetail = `pinned=${pinned}`;
        await controls.pinCheckpoint(ctx.params.name!, ctx.params.id!, pinned);
        return { body: { id: ctx.params.id!, pinned } };
      },
    ),
    jsonRoute(
      'DELETE /api/vms/{name}/checkpoints/{id}',
      { ...session, summary: 'Delete a checkpoint' },
      async (ctx) => {
        await controls.deleteCheckpoint(ctx.params.name!, ctx.params.id!);
        return { body: { deleted: ctx.params.id! } };
      },
    ),
    jsonRoute(
      'POST /api/containers',
      {
        ...session,
        summary: 'Run an OCI image (a layout folder or docker-save tarball on the host) once, in a microVM',
      },
      async (ctx) => {
        const request = containerRequest(ctx.body);
        ctx.auditDetail = `${request.name} ${request.image}`;
        return { status: 201, body: await controls.runContainer(request) };
      },
    ),
    jsonRoute('GET /api/networks', { ...session, summary: "The host's networks, their routers and VMs" }, () => ({
      body: controls.networks(),
    })),
    jsonRoute(
      'POST /api/networks/{name}/restart',
      { ...session, summary: "Restart a VPN network's tunnel in its router (its kill switch holds throughout)" },
      async (ctx) => {
        ctx.auditDetail = ctx.params.name!;
        return { body: await controls.restartTunnel(ctx.params.name!) };
      },
    ),
    jsonRoute(
      'GET /api/vms/{name}/net',
      { ...session, summary: "A VM's links: network, address, MAC, rules, forwards, counters" },
      (ctx) => ({ body: controls.vmNet(ctx.params.name!) }),
    ),
    jsonRoute(
      'POST /api/vms/{name}/rules',
      {
        ...session,
        summary: "Replace a VM's firewall rules: its router loads them in one transaction and reads them back",
      },
      async (ctx) => {
        const rules = ctx.body.rules;
        ctx.auditDetail = `${Array.isArray(rules) ? rules.length : 'no'} rules: ${JSON.stringify(rules).slice(0, 300)}`;
        return { body: await controls.setRules(ctx.params.name!, rules) };
      },
    ),
    jsonRoute(
      'GET /api/onion',
      { ...session, summary: 'The onion call-home: its address, gateway, ports and enrolled clients' },
      () => ({ body: onion(controls.onion?.()) }),
    ),
    jsonRoute(
      'POST /api/onion/clients',
      {
        ...session,
        summary: 'Enrol a client of the onion service by its x25519 public key (the private half stays with its owner)',
      },
      async (ctx) => {
        const name = optionalString(ctx.body, 'name', 32) ?? '';
        ctx.auditDetail = `add ${name}`;
        if (!controls.addOnionClient || !controls.onion?.()) onion(undefined);
        return { body: await controls.addOnionClient!(name, ctx.body.publicKey, ctx.caller.user) };
      },
    ),
    jsonRoute(
      'DELETE /api/onion/clients/{name}',
      { ...session, summary: "Revoke a client of the onion service (the gateway's Tor restarts without it)" },
      async (ctx) => {
        ctx.auditDetail = `remove ${ctx.params.name}`;
        if (!controls.removeOnionClient || !controls.onion?.()) onion(undefined);
        return { body: await controls.removeOnionClient!(ctx.params.name!) };
      },
    ),
    jsonRoute('GET /api/rescue', { ...session, summary: 'Whether the host runs on its rescue VM, and why' }, () => ({
      body: controls.rescueState(),
    })),
    jsonRoute(
      'POST /api/rescue',
      { ...session, summary: 'Switch to the rescue VM (stops the controller), recording the reason' },
      async (ctx) => {
        const reason = optionalString(ctx.body, 'reason', 500);
        if (!reason?.trim()) throw new HttpError(400, '"reason" is required: say why the host goes to rescue');
        ctx.auditDetail = reason;
        return { body: await controls.rescue(reason) };
      },
    ),
  ];
}
