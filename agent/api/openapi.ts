// The API's OpenAPI 3.1 document, written by hand and held to the route table and real answers by openapi.test.ts.
import type { Route } from './router.ts';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } });
const text = (description: string, type: string) => ({
  description,
  content: { [type]: { schema: { type: 'string' } } },
});
const error = (description: string) => json(description, ref('Error'));
const body = (schema: object, required = false) => ({ required, content: { 'application/json': { schema } } });
const name = { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'VM name' };
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'checkpoint id' };

const ENTRY = {
  name: 'entry',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'vault entry name',
};

const COMMON = { '401': error('No session (TCP only)') };
const CHANGE = { ...COMMON, '403': error('Cross-origin request or missing/wrong x-csrf-token (TCP only)') };
const ON_VM = { '404': error('No such VM') };

function op(summary: string, responses: object, extra: object = {}) {
  return { summary, ...extra, responses };
}

const vmAction = (verb: string) => ({
  post: op(
    `${verb} a VM; answers once it is done`,
    { '200': json('The VM afterwards', ref('VmView')), ...CHANGE, ...ON_VM, '409': error('Not possible in its state') },
    { parameters: [name] },
  ),
});

const netRule = {
  type: 'object',
  required: ['action', 'proto'],
  properties: {
    action: { enum: ['allow', 'deny'] },
    proto: { enum: ['tcp', 'udp', 'icmp', 'any'] },
    to: {
      oneOf: [
        { type: 'object', required: ['cidr'], properties: { cidr: { type: 'string' } } },
        { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
        { type: 'object', required: ['vm'], properties: { vm: { type: 'string' } } },
      ],
    },
    ports: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, minItems: 2, maxItems: 2 },
  },
};

const schemas = {
  NetRule: netRule,
  VmNetView: {
    type: 'object',
    required: ['network', 'router', 'address', 'prefix', 'gateway', 'mac', 'rules', 'forwards'],
    properties: {
      network: { type: 'string' },
      router: { type: 'string' },
      address: { type: 'string' },
      prefix: { type: 'integer' },
      gateway: { type: 'string' },
      mac: { type: 'string' },
      rules: { type: 'array', items: { $ref: '#/components/schemas/NetRule' } },
      forwards: {
        type: 'array',
        items: {
          type: 'object',
          required: ['proto', 'port', 'to'],
          properties: { proto: { enum: ['tcp', 'udp'] }, port: { type: 'integer' }, to: { type: 'integer' } },
        },
      },
      counters: {
        type: 'object',
        required: ['sentBytes', 'sentPackets', 'receivedBytes', 'receivedPackets', 'at'],
        properties: {
          sentBytes: { type: 'integer' },
          sentPackets: { type: 'integer' },
          receivedBytes: { type: 'integer' },
          receivedPackets: { type: 'integer' },
          at: { type: 'string' },
        },
      },
    },
  },
  TunnelStatus: {
    type: 'object',
    description: "A VPN network's tunnel as its router last reported it (never its provider file)",
    required: ['provider', 'interface', 'state', 'endpoints', 'rxBytes', 'txBytes'],
    properties: {
      provider: { enum: ['wireguard', 'openvpn'] },
      interface: { type: 'string' },
      state: { enum: ['up', 'connecting', 'down', 'restarting', 'unknown'] },
      endpoints: { type: 'array', items: { type: 'string' } },
      endpoint: { type: 'string' },
      handshakeAgeS: { type: 'integer' },
      rxBytes: { type: 'integer' },
      txBytes: { type: 'integer' },
      check: { type: 'string' },
      exitAddress: { type: 'string' },
      exitAgeS: { type: 'integer' },
      at: { type: 'string' },
    },
  },
  NetworkView: {
    type: 'object',
    required: ['name', 'router', 'subnet', 'gateway', 'prefix', 'dhcp', 'dns', 'outbound', 'vms'],
    properties: {
      name: { type: 'string' },
      router: { type: 'string' },
      subnet: { type: 'string' },
      gateway: { type: 'string' },
      prefix: { type: 'integer' },
      dhcp: { type: 'boolean' },
      dns: { type: 'boolean' },
      outbound: { enum: ['allow', 'deny'] },
      vms: { type: 'array', items: { type: 'string' } },
      tunnel: ref('TunnelStatus'),
      torBootstrap: { type: 'integer', description: "How far its router's Tor has bootstrapped (percent)" },
      tor: {
        type: 'object',
        properties: {
          transPort: { type: 'integer' },
          dnsPort: { type: 'integer' },
          testingAuthorities: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
  OnionView: {
    type: 'object',
    required: ['address', 'gateway', 'ports', 'clients', 'serving'],
    properties: {
      address: { type: 'string', description: 'The v3 onion address, with ".onion"' },
      gateway: { type: 'string', description: 'The VM whose Tor publishes it' },
      ports: {
        type: 'object',
        properties: { ssh: { type: 'integer' }, api: { type: 'integer' } },
        description: "The onion's ports: the SSH jail (when on) and the API (plain HTTP inside the onion connection)",
      },
      clients: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'publicKey', 'added', 'by'],
          properties: {
            name: { type: 'string' },
            publicKey: { type: 'string', description: 'x25519, 52 base32 characters' },
            added: { type: 'string' },
            by: { type: 'string' },
          },
        },
      },
      serving: {
        type: 'boolean',
        description: 'Its descriptor is published: an HSDir accepted it (never while no client is enrolled)',
      },
    },
  },
  UpdateView: {
    type: 'object',
    required: ['enabled', 'version', 'slots', 'events'],
    properties: {
      enabled: { type: 'boolean', description: 'Whether the host takes bundles now' },
      why: { type: 'string', description: 'Why not (no update section, booted from media without slots…)' },
      version: { type: 'string' },
      keyId: { type: 'string', description: "The update key's id, as minisign prints it" },
      booted: { enum: ['a', 'b'] },
      slots: {
        type: 'array',
        items: {
          type: 'object',
          required: ['slot', 'state', 'booted', 'bootSlot', 'trying'],
          properties: {
            slot: { enum: ['a', 'b'] },
            version: { type: 'string' },
            state: { enum: ['good', 'pending', 'bad', 'incomplete', 'empty'] },
            booted: { type: 'boolean' },
            bootSlot: {
              type: 'boolean',
              description: "booted by default: GRUB's boot_slot, or first in the firmware's BootOrder (Secure Boot)",
            },
            trying: {
              type: 'boolean',
              description: "booted once at the next boot: GRUB's try_slot, or the firmware's BootNext (Secure Boot)",
            },
            reason: { type: 'string' },
            at: { type: 'string' },
          },
        },
      },
      gate: {
        type: 'object',
        required: ['slot', 'version', 'deadline', 'unmet', 'passed'],
        properties: {
          slot: { enum: ['a', 'b'] },
          version: { type: 'string' },
          deadline: {
            type: 'integer',
            description: 'Seconds after the kernel started; then init reboots into the old slot',
          },
          unmet: { type: 'array', items: { type: 'string' } },
          passed: { type: 'boolean' },
        },
      },
      busy: { type: 'string' },
      events: {
        type: 'array',
        items: {
          type: 'object',
          required: ['at', 'event'],
          properties: {
            at: { type: 'string' },
            event: { type: 'string' },
            slot: { enum: ['a', 'b'] },
            version: { type: 'string' },
            by: { type: 'string' },
            detail: { type: 'string' },
          },
        },
      },
    },
  },
  NetworksView: {
    type: 'object',
    required: ['networks', 'routers'],
    properties: {
      networks: {
        type: 'array',
        items: ref('NetworkView'),
      },
      routers: {
        type: 'array',
        items: {
          type: 'object',
          required: ['vm', 'uplink', 'ipv4'],
          properties: {
            vm: { type: 'string' },
            uplink: { type: 'string' },
            ipv4: { type: 'string' },
            state: { $ref: '#/components/schemas/VmState' },
            problems: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
  },
  Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
  VmState: { enum: ['stopped', 'starting', 'running', 'ready', 'failed', 'stopping'] },
  PinPlan: {
    type: 'object',
    required: ['housekeeping', 'vcpus', 'emulator'],
    properties: {
      housekeeping: { type: 'array', items: { type: 'integer' } },
      vcpus: {
        type: 'array',
        items: {
          type: 'object',
          required: ['vcpu', 'cpu'],
          properties: { vcpu: { type: 'integer' }, cpu: { type: 'integer' }, tid: { type: 'integer' } },
        },
      },
      emulator: { type: 'array', items: { type: 'integer' } },
      degraded: { type: 'string' },
      memory: {
        type: 'object',
        required: ['policy', 'hugepages', 'note'],
        properties: {
          policy: { enum: ['bind', 'default'] },
          node: { type: 'integer' },
          hugepages: { type: 'boolean' },
          note: { type: 'string' },
        },
      },
    },
  },
  KeyboardState: {
    type: 'object',
    required: ['writer'],
    properties: { writer: { type: 'boolean' }, holder: { type: 'string' } },
  },
  HealthEvent: {
    type: 'object',
    required: ['at', 'event'],
    properties: { at: { type: 'string' }, event: { type: 'string' }, detail: { type: 'string' } },
  },
  VmView: {
    type: 'object',
    required: ['name', 'role', 'launch', 'state', 'ephemeral', 'autostart', 'history'],
    properties: {
      name: { type: 'string' },
      role: { enum: ['controller', 'rescue', 'application', 'utility'] },
      launch: { enum: ['vm', 'novm', 'container'] },
      state: ref('VmState'),
      pid: { type: 'integer' },
      startedAt: { type: 'string' },
      readyAt: { type: 'string' },
      ephemeral: { type: 'boolean' },
      autostart: { type: 'boolean' },
      pinning: ref('PinPlan'),
      failure: {
        type: 'object',
        required: ['reason', 'at'],
        properties: { reason: { type: 'string' }, at: { type: 'string' } },
      },
      result: {
        type: 'object',
        required: ['exitCode', 'at'],
        properties: { exitCode: { type: 'integer' }, at: { type: 'string' } },
      },
      history: { type: 'array', items: ref('HealthEvent') },
    },
  },
  CheckpointView: {
    type: 'object',
    required: ['id', 'createdAt', 'sizeBytes', 'pinned', 'current'],
    properties: {
      id: { type: 'string' },
      parent: { type: 'string' },
      label: { type: 'string' },
      createdAt: { type: 'string' },
      sizeBytes: { type: 'integer' },
      pinned: { type: 'boolean' },
      current: { type: 'boolean' },
    },
  },
  RescueState: {
    type: 'object',
    required: ['active'],
    properties: { active: { type: 'boolean' }, reason: { type: 'string' }, since: { type: 'string' } },
  },
  HostFacts: {
    type: 'object',
    required: ['name', 'version', 'accel', 'accelReason', 'cpus', 'memoryMiB', 'versions', 'rescue'],
    properties: {
      name: { type: 'string' },
      version: { type: 'string' },
      accel: { enum: ['kvm', 'tcg'] },
      accelReason: { type: 'string' },
      cpus: {
        type: 'object',
        required: ['online', 'cores', 'nodes'],
        properties: {
          online: { type: 'array', items: { type: 'integer' } },
          cores: { type: 'array', items: { type: 'array', items: { type: 'integer' } } },
          nodes: { type: 'array', items: { type: 'array', items: { type: 'integer' } } },
        },
      },
      memoryMiB: { type: 'integer' },
      versions: {
        type: 'object',
        required: ['agent', 'node', 'qemu'],
        properties: { agent: { type: 'string' }, node: { type: 'string' }, qemu: { type: 'string' } },
      },
      rescue: ref('RescueState'),
    },
  },
  AgentStatus: {
    type: 'object',
    required: ['host', 'state', 'pid', 'node', 'startedAt', 'accel', 'accelReason', 'stateDir', 'vms'],
    properties: {
      host: {
        type: 'object',
        required: ['name', 'version'],
        properties: { name: { type: 'string' }, version: { type: 'string' } },
      },
      state: { enum: ['ready', 'stopping'] },
      pid: { type: 'integer' },
      node: { type: 'string' },
      startedAt: { type: 'string' },
      accel: { enum: ['kvm', 'tcg'] },
      accelReason: { type: 'string' },
      stateDir: { type: 'string' },
      warnings: { type: 'array', items: { type: 'string' } },
      rescue: ref('RescueState'),
      api: {
        type: 'object',
        required: ['url'],
        properties: {
          url: { type: 'string' },
          tls: {
            type: 'object',
            required: ['source', 'certificate', 'fingerprint'],
            properties: {
              source: { enum: ['key-folder', 'self-signed'] },
              certificate: { type: 'string' },
              fingerprint: { type: 'string', description: 'SHA-256 of the certificate DER, AB:CD:…' },
            },
          },
        },
      },
      audit: {
        type: 'object',
        description:
          'The audit log: repeats of one refusal counted into `repeated` lines, entries dropped by its rate limit ' +
          '(a warning names them too)',
        required: ['written', 'suppressed', 'dropped', 'rotations'],
        properties: {
          written: { type: 'integer' },
          suppressed: { type: 'integer' },
          dropped: { type: 'integer' },
          rotations: { type: 'integer' },
          firstDroppedAt: { type: 'string' },
          lastDroppedAt: { type: 'string' },
        },
      },
      onion: ref('OnionView'),
      update: ref('UpdateView'),
      fleet: {
        type: 'object',
        description: "The link to the fleet's broker, when the host reports to one",
        required: ['state', 'since', 'queuedEvents', 'droppedEvents'],
        properties: {
          state: { enum: ['connecting', 'connected', 'disconnected', 'closed'] },
          since: { type: 'string' },
          server: { type: 'string' },
          lastError: { type: 'string' },
          queuedEvents: { type: 'integer' },
          droppedEvents: {
            type: 'integer',
            description: 'Events dropped while the broker was away (the oldest go first)',
          },
        },
      },
      listeners: {
        type: 'array',
        description: 'On the host: each TCP listener the agent keeps trying to bind, bound or down and why',
        items: {
          type: 'object',
          required: ['name', 'address', 'state', 'since'],
          properties: {
            name: { type: 'string' },
            address: { type: 'string' },
            state: { enum: ['listening', 'failed'] },
            error: { type: 'string' },
            since: { type: 'string' },
          },
        },
      },
      vms: { type: 'array', items: ref('VmView') },
    },
  },
  VaultView: {
    type: 'object',
    description: 'The host vault; no answer of the API ever holds a secret',
    required: ['state', 'unlock'],
    properties: {
      state: { enum: ['none', 'locked', 'unlocked'] },
      entries: {
        type: 'array',
        description: 'Only while unlocked',
        items: {
          type: 'object',
          required: ['name', 'kind'],
          properties: {
            name: { type: 'string' },
            kind: { enum: ['password', 'totp', 'hotp', 'ssh-key'] },
            vm: { type: 'string', description: 'The one VM that may ask for its secret, over its own channel' },
          },
        },
      },
      recovery: {
        type: 'object',
        description: 'Custodians: any threshold of their shares unlock the vault',
        required: ['threshold', 'shares', 'setId'],
        properties: { threshold: { type: 'integer' }, shares: { type: 'integer' }, setId: { type: 'string' } },
      },
      caPublicKey: {
        type: 'string',
        description: "The SSH CA's public key (for TrustedUserCAKeys), also while locked",
      },
      unlock: {
        type: 'object',
        required: ['failures'],
        properties: {
          failures: { type: 'integer', description: 'Failed unlock attempts in a row' },
          retryAfterSeconds: { type: 'integer', description: 'When the next attempt is taken' },
        },
      },
    },
  },
  Session: {
    type: 'object',
    required: ['user', 'csrf'],
    properties: { user: { type: 'string' }, via: { enum: ['socket', 'tcp'] }, csrf: { type: ['string', 'null'] } },
  },
};

// The document: every path the agent routes, what it takes and what it answers.
export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Multiverse agent API',
    version: '1',
    description:
      'Served on the root-only unix socket /run/mvos/agent.sock (no login) and, when host config sets agent.apiListen, over TCP. ' +
      'Over TCP everything but the login page, its assets and POST /login needs the session cookie from POST /login; ' +
      'every POST/DELETE also needs the x-csrf-token header (from the login answer or GET /api/session) and a same-origin Origin if one is sent. ' +
      'Host (and Origin) must name the listener: its address, localhost on loopback, or a name from ' +
      'agent.api.names; anything else is refused (DNS rebinding).',
  },
  components: {
    schemas,
    securitySchemes: {
      session: { type: 'apiKey', in: 'cookie', name: 'mvos_session' },
      csrf: { type: 'apiKey', in: 'header', name: 'x-csrf-token' },
    },
  },
  security: [{ session: [] }],
  paths: {
    '/status': {
      get: op('The agent status (the same document as status.json)', {
        '200': json('Status', ref('AgentStatus')),
        ...COMMON,
      }),
    },
    '/api/host': {
      get: op('Host facts: CPU topology, KVM or TCG, memory, versions, rescue state', {
        '200': json('Facts', ref('HostFacts')),
        ...COMMON,
      }),
    },
    '/api/vms': {
      get: op('Every VM with its state and health', {
        '200': json('VMs', { type: 'array', items: ref('VmView') }),
        ...COMMON,
      }),
    },
    '/api/vms/{name}': {
      get: op(
        'One VM: state, CPU pinning plan, health history',
        { '200': json('The VM', ref('VmView')), ...COMMON, ...ON_VM },
        { parameters: [name] },
      ),
    },
    '/api/vms/{name}/start': vmAction('Start'),
    '/api/vms/{name}/stop': vmAction('Stop'),
    '/api/vms/{name}/restart': vmAction('Restart'),
    '/api/vms/{name}/console': {
      get: op(
        'The serial console log so far',
        { '200': text('Console text', 'text/plain'), '400': error('Bad tail'), ...COMMON, ...ON_VM },
        {
          parameters: [
            name,
            {
              name: 'tail',
              in: 'query',
              required: false,
              schema: { type: 'integer', minimum: 0 },
              description: 'only the last BYTES',
            },
          ],
        },
      ),
    },
    '/api/vms/{name}/console/stream': {
      get: op(
        'The console live as Server-Sent Events; each data line is a JSON string of console text (the last 64 KiB ' +
          'first)',
        { '200': text('Event stream', 'text/event-stream'), ...COMMON, ...ON_VM },
        { parameters: [name] },
      ),
    },
    '/api/vms/{name}/console/live': {
      get: op(
        'An interactive console session as Server-Sent Events: first `event: session` ({id, vm, writer, holder}), ' +
          'then data lines of console text as JSON strings (the last 64 KiB first) and `event: keyboard` ({writer, ' +
          'holder, takenBy}) when the keyboard changes hands; the session ends with the stream',
        { '200': text('Event stream', 'text/event-stream'), ...COMMON, ...ON_VM },
        { parameters: [name] },
      ),
    },
    '/api/vms/{name}/console/keyboard': {
      post: op(
        'Take the keyboard for a live session; while another session holds it only with force (it is told)',
        {
          '200': json('Who has the keyboard now', ref('KeyboardState')),
          '400': error('Bad body'),
          ...CHANGE,
          '404': error('No such VM or no such console session of this login on this VM'),
          '409': error('Another session holds the keyboard (take it over with force)'),
        },
        {
          parameters: [name],
          requestBody: body(
            {
              type: 'object',
              required: ['session'],
              properties: { session: { type: 'string' }, force: { type: 'boolean' } },
            },
            true,
          ),
        },
      ),
    },
    '/api/vms/{name}/console/input': {
      post: op(
        'Type into the console: at most 4096 bytes of UTF-8 per request, only from the session holding the ' +
          'keyboard, within a rate limit',
        {
          '200': json('Bytes accepted', {
            type: 'object',
            required: ['sent'],
            properties: { sent: { type: 'integer' } },
          }),
          '400': error('Bad body'),
          ...CHANGE,
          '404': error('No such VM or no such console session of this login on this VM'),
          '409': error('This session does not hold the keyboard, or the VM is not running'),
          '413': error('More than 4096 bytes'),
          '429': error('Past the input rate limit, or the guest is not reading'),
        },
        {
          parameters: [name],
          requestBody: body(
            {
              type: 'object',
              required: ['session', 'data'],
              properties: {
                session: { type: 'string' },
                data: { type: 'string', description: 'what is typed, as text' },
              },
            },
            true,
          ),
        },
      ),
    },
    '/api/vms/{name}/checkpoints': {
      get: op(
        "A VM's disk checkpoints",
        { '200': json('Checkpoints', { type: 'array', items: ref('CheckpointView') }), ...COMMON, ...ON_VM },
        { parameters: [name] },
      ),
      post: op(
        'Take a checkpoint',
        {
          '201': json('The new checkpoint', ref('CheckpointView')),
          '400': error('Bad label'),
          ...CHANGE,
          ...ON_VM,
          '409': error('Not possible now'),
        },
        {
          parameters: [name],
          requestBody: body({ type: 'object', properties: { label: { type: 'string', maxLength: 200 } } }),
        },
      ),
    },
    '/api/vms/{name}/checkpoints/{id}': {
      delete: op(
        'Delete a checkpoint',
        {
          '200': json('Deleted', {
            type: 'object',
            required: ['deleted'],
            properties: { deleted: { type: 'string' } },
          }),
          ...CHANGE,
          '404': error('No such VM or checkpoint'),
          '409': error('Pinned, current or has children'),
        },
        { parameters: [name, id] },
      ),
    },
    '/api/vms/{name}/checkpoints/{id}/rollback': {
      post: op(
        'Roll the disk back to a checkpoint; restart: true stops and starts a running VM around it',
        {
          '200': json('Rolled back', {
            type: 'object',
            required: ['rolledBackTo', 'vm'],
            properties: { rolledBackTo: { type: 'string' }, vm: ref('VmView') },
          }),
          '400': error('Bad body'),
          ...CHANGE,
          '404': error('No such VM or checkpoint'),
          '409': error('The VM runs and restart was not asked for'),
        },
        { parameters: [name, id], requestBody: body({ type: 'object', properties: { restart: { type: 'boolean' } } }) },
      ),
    },
    '/api/vms/{name}/checkpoints/{id}/pin': {
      post: op(
        'Pin or unpin a checkpoint',
        {
          '200': json('Done', {
            type: 'object',
            required: ['id', 'pinned'],
            properties: { id: { type: 'string' }, pinned: { type: 'boolean' } },
          }),
          '400': error('Bad body'),
          ...CHANGE,
          '404': error('No such VM or checkpoint'),
        },
        {
          parameters: [name, id],
          requestBody: body(
            { type: 'object', required: ['pinned'], properties: { pinned: { type: 'boolean' } } },
            true,
          ),
        },
      ),
    },
    '/api/containers': {
      post: op(
        'Run an OCI image once in a microVM',
        {
          '201': json('The container VM', ref('VmView')),
          '400': error('Bad body, or an image that cannot run'),
          ...CHANGE,
          '409': error('A VM of that name runs'),
        },
        {
          requestBody: body(
            {
              type: 'object',
              required: ['name', 'image'],
              properties: {
                name: { type: 'string', maxLength: 31 },
                image: { type: 'string' },
                entrypoint: { type: 'array', items: { type: 'string' } },
                cmd: { type: 'array', items: { type: 'string' } },
                env: { type: 'array', items: { type: 'string' } },
                workingDir: { type: 'string' },
                cpus: { type: 'integer' },
                memoryMiB: { type: 'integer' },
              },
            },
            true,
          ),
        },
      ),
    },
    '/api/networks': {
      get: op("The host's networks, their routers and VMs", {
        '200': json('Networks', ref('NetworksView')),
        ...COMMON,
      }),
    },
    '/api/networks/{name}/restart': {
      post: op(
        "Restart a VPN network's tunnel in its router (its kill switch holds throughout)",
        {
          '200': json('The network with its tunnel', ref('NetworkView')),
          '400': error('A network without a tunnel'),
          ...CHANGE,
          '404': error('No such network'),
          '409': error('The router is not running, or could not restart the tunnel'),
        },
        { parameters: [{ ...name, description: 'Network name' }] },
      ),
    },
    '/api/vms/{name}/net': {
      get: op(
        "A VM's links: network, address, MAC, rules, forwards, counters",
        {
          '200': json('Links (none for a VM on no network)', { type: 'array', items: ref('VmNetView') }),
          ...COMMON,
          ...ON_VM,
        },
        { parameters: [name] },
      ),
    },
    '/api/vms/{name}/rules': {
      post: op(
        "Replace a VM's firewall rules (its router loads them in one transaction and reads them back)",
        {
          '200': json('Its links with the new rules', { type: 'array', items: ref('VmNetView') }),
          '400': error('Rules that are not rules, or a VM on no network'),
          ...CHANGE,
          ...ON_VM,
          '409': error('The router refused them (the rules in force stay)'),
        },
        {
          parameters: [name],
          requestBody: body(
            { type: 'object', required: ['rules'], properties: { rules: { type: 'array', items: ref('NetRule') } } },
            true,
          ),
        },
      ),
    },
    '/api/onion': {
      get: op('The onion call-home: its address, gateway, ports and enrolled clients', {
        '200': json('The onion service', ref('OnionView')),
        ...COMMON,
        '404': error('This host publishes no onion service'),
      }),
    },
    '/api/onion/clients': {
      post: op(
        'Enrol a client of the onion service by its x25519 public key (the private half stays with its owner)',
        {
          '200': json('The onion service with the client', ref('OnionView')),
          '400': error('A name or key that is not one'),
          ...CHANGE,
          '404': error('This host publishes no onion service'),
          '409': error('The name or key is taken, the list is full, or the gateway refused the list'),
        },
        {
          requestBody: body(
            {
              type: 'object',
              required: ['name', 'publicKey'],
              properties: {
                name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,31}$' },
                publicKey: { type: 'string', pattern: '^[A-Z2-7]{52}$' },
              },
            },
            true,
          ),
        },
      ),
    },
    '/api/onion/clients/{name}': {
      delete: op(
        "Revoke a client of the onion service (the gateway's Tor restarts without it)",
        {
          '200': json('The onion service without the client', ref('OnionView')),
          ...CHANGE,
          '404': error('No such client, or no onion service'),
          '409': error('The gateway refused the list'),
        },
        { parameters: [{ ...name, description: 'Client name' }] },
      ),
    },
    '/api/update': {
      get: op('Updates: the A/B slots, their versions and verdicts, a health gate in progress', {
        '200': json('Updates (enabled false, with why, on an agent that takes none)', ref('UpdateView')),
        ...COMMON,
      }),
      post: op(
        'Apply an update bundle: checked whole (signature, host, version, expiry, hashes) before the ESP changes, written to the slot that did not boot, read back, tried once at the next boot',
        {
          '200': json('The slot written', {
            type: 'object',
            required: ['slot', 'version', 'bytes', 'rebooting'],
            properties: {
              slot: { enum: ['a', 'b'] },
              version: { type: 'string' },
              bytes: { type: 'integer' },
              rebooting: { type: 'boolean' },
            },
          }),
          '400': error('The bundle is refused (the reason), or reboot is not yes or no'),
          ...CHANGE,
          '404': error('This agent takes no updates'),
          '409': error('The host takes no bundle now (why), or an update is in progress or on trial'),
          '411': error('No Content-Length'),
          '413': error('Larger than a bundle may be'),
          '415': error('Not application/octet-stream'),
        },
        {
          parameters: [
            {
              name: 'reboot',
              in: 'query',
              schema: { enum: ['yes', 'no'] },
              description: 'Reboot into it now (default yes)',
            },
          ],
          requestBody: {
            required: true,
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
        },
      ),
    },
    '/api/update/rollback': {
      post: op(
        'Boot the other slot from now on (a version on trial is given up)',
        {
          '200': json('Updates afterwards', ref('UpdateView')),
          '400': error('reboot is not yes or no, or this agent cannot reboot'),
          ...CHANGE,
          '404': error('This agent takes no updates'),
          '409': error('Nothing good to roll back to, or an update is in progress'),
        },
        {
          parameters: [
            { name: 'reboot', in: 'query', schema: { enum: ['yes', 'no'] }, description: 'Reboot now (default yes)' },
          ],
        },
      ),
    },
    '/api/vault': {
      get: op('The vault: none, locked or unlocked; its entries while unlocked (never a secret)', {
        '200': json('The vault', ref('VaultView')),
        ...COMMON,
      }),
      post: op(
        'Make the vault, unlocked, with a fresh SSH CA; with custodians, its key is split among them too and their share cards are in this one answer',
        {
          '201': json('The vault and the share cards (none without custodians)', {
            type: 'object',
            required: ['vault', 'cards'],
            properties: { vault: ref('VaultView'), cards: { type: 'array', items: { type: 'string' } } },
          }),
          '400': error('A passphrase under 8 characters, or custodians not T of N (2 ≤ T ≤ N ≤ 32)'),
          ...CHANGE,
          '404': error('This agent keeps no vault'),
          '409': error('A vault exists already'),
        },
        {
          requestBody: body(
            {
              type: 'object',
              required: ['passphrase'],
              properties: {
                passphrase: { type: 'string' },
                custodians: {
                  type: 'object',
                  required: ['threshold', 'shares'],
                  properties: {
                    threshold: { type: 'integer' },
                    shares: { type: 'integer' },
                    label: { type: 'string' },
                  },
                },
              },
            },
            true,
          ),
        },
      ),
    },
    '/api/vault/unlock': {
      post: op(
        'Unlock the vault with its passphrase or any T shares; the key is held in memory only. Attempts are counted before the key derivation, one at a time, and wait longer after each failure past the first few',
        {
          '200': json('The vault, unlocked', ref('VaultView')),
          '400': error('Wrong passphrase, or shares that are too few, damaged or of another set'),
          ...CHANGE,
          '404': error('No vault yet'),
          '429': error('Another attempt is in progress, or too many failures: wait (the time is in the message)'),
        },
        {
          requestBody: body(
            {
              oneOf: [
                { type: 'object', required: ['passphrase'], properties: { passphrase: { type: 'string' } } },
                {
                  type: 'object',
                  required: ['shares'],
                  properties: { shares: { type: 'array', items: { type: 'string' }, maxItems: 32 } },
                },
              ],
            },
            true,
          ),
        },
      ),
    },
    '/api/vault/lock': {
      post: op('Lock the vault: its key and entries leave memory', {
        '200': json('The vault, locked', ref('VaultView')),
        ...CHANGE,
        '404': error('This agent keeps no vault'),
      }),
    },
    '/api/vault/passphrase': {
      post: op(
        'A new passphrase for the vault, given the current one (checked through the unlock gate); the custodians and the entries stay',
        {
          '200': json('The vault afterwards', ref('VaultView')),
          '400': error('The current passphrase is wrong, or the new one is under 8 characters'),
          ...CHANGE,
          '404': error('This agent keeps no vault'),
          '409': error('The vault is locked'),
          '429': error('Another attempt is in progress, or too many failures: wait'),
        },
        {
          requestBody: body(
            {
              type: 'object',
              required: ['current', 'passphrase'],
              properties: { current: { type: 'string' }, passphrase: { type: 'string' } },
            },
            true,
          ),
        },
      ),
    },
    '/api/vault/entries': {
      post: op(
        'Add or replace an entry; its secret goes in and is never answered (a VM named by vm asks for it over its own channel)',
        {
          '200': json('The vault afterwards', ref('VaultView')),
          '400': error('A field is wrong (the reason)'),
          ...CHANGE,
          '404': error('This agent keeps no vault'),
          '409': error('The vault is locked, or the name is the CA'),
        },
        {
          requestBody: body(
            {
              type: 'object',
              required: ['name', 'kind', 'secret'],
              properties: {
                name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
                kind: { enum: ['password', 'totp', 'hotp', 'ssh-key'] },
                secret: { type: 'string', description: 'totp/hotp: the base32 seed; ssh-key: the private key' },
                vm: { type: 'string' },
                note: { type: 'string' },
                digits: { enum: [6, 8] },
                period: { type: 'integer', minimum: 10, maximum: 300 },
                algorithm: { enum: ['sha1', 'sha256', 'sha512'] },
                counter: { type: 'integer', minimum: 0 },
                publicKey: { type: 'string' },
              },
            },
            true,
          ),
        },
      ),
    },
    '/api/vault/entries/{entry}': {
      delete: op(
        'Remove an entry',
        {
          '200': json('The vault afterwards', ref('VaultView')),
          ...CHANGE,
          '404': error('No such entry, or no vault'),
          '409': error('The vault is locked, or the entry is the CA'),
        },
        { parameters: [ENTRY] },
      ),
    },
    '/api/vault/entries/{entry}/code': {
      get: op(
        'The current one-time code of a TOTP or HOTP entry (an HOTP counter moves on)',
        {
          '200': json('The code', {
            type: 'object',
            required: ['name', 'code'],
            properties: {
              name: { type: 'string' },
              code: { type: 'string' },
              validForSeconds: { type: 'integer', description: 'TOTP: seconds left in its period' },
            },
          }),
          ...COMMON,
          '400': error('Not a seed entry'),
          '404': error('No such entry, or no vault'),
          '409': error('The vault is locked'),
        },
        { parameters: [ENTRY] },
      ),
    },
    '/api/vault/entries/{entry}/public-key': {
      get: op(
        'The public key of an SSH key entry',
        {
          '200': json('The key', {
            type: 'object',
            required: ['name', 'publicKey'],
            properties: { name: { type: 'string' }, publicKey: { type: 'string' } },
          }),
          ...COMMON,
          '400': error('Not an SSH key entry'),
          '404': error('No such entry, or no vault'),
          '409': error('The vault is locked'),
        },
        { parameters: [ENTRY] },
      ),
    },
    '/api/vault/ssh-cert': {
      post: op(
        "A short-lived OpenSSH user certificate for the caller's key, signed by the vault's CA, with the caller's name as its one principal",
        {
          '200': json('The certificate line (save it as KEY-cert.pub)', {
            type: 'object',
            required: ['certificate', 'validBefore', 'principals'],
            properties: {
              certificate: { type: 'string' },
              validBefore: { type: 'string' },
              principals: { type: 'array', items: { type: 'string' } },
            },
          }),
          '400': error('Validity outside 60 s to 12 h, a from that is not one address, or a key that is not Ed25519'),
          ...CHANGE,
          '404': error('This agent keeps no vault'),
          '409': error('The vault is locked'),
        },
        {
          requestBody: body(
            {
              type: 'object',
              required: ['publicKey'],
              properties: {
                publicKey: { type: 'string', description: 'An ssh-ed25519 public key line' },
                validitySeconds: { type: 'integer', minimum: 60, maximum: 43200, default: 3600 },
                from: { type: 'string', description: 'The one address the certificate is good from' },
              },
            },
            true,
          ),
        },
      ),
    },
    '/api/rescue': {
      get: op('Whether the host runs on its rescue VM, and why', {
        '200': json('Rescue state', ref('RescueState')),
        ...COMMON,
      }),
      post: op(
        'Switch to the rescue VM (stops the controller)',
        {
          '200': json('Rescue state', ref('RescueState')),
          '400': error('No reason'),
          ...CHANGE,
          '409': error('Already in rescue'),
        },
        {
          requestBody: body(
            { type: 'object', required: ['reason'], properties: { reason: { type: 'string', maxLength: 500 } } },
            true,
          ),
        },
      ),
    },
    '/api/session': {
      get: op('Who is logged in and the CSRF token', { '200': json('Session', ref('Session')), ...COMMON }),
    },
    '/login': {
      get: op('The WebUI login page', { '200': text('Login page', 'text/html') }, { security: [] }),
      post: op(
        'Log in with user, password and one-time code; sets the session cookie',
        {
          '200': json('Logged in', {
            type: 'object',
            required: ['user', 'csrf'],
            properties: { user: { type: 'string' }, csrf: { type: 'string' } },
          }),
          '400': error('Missing field, or the unix socket (no login there)'),
          '401': error('Wrong user, password or code (which one is not told)'),
          '403': error('Cross-origin login'),
          '429': error(
            'Too many failed logins, or too many logins being checked at once (busy); Retry-After says when to try ' +
              'again',
          ),
        },
        {
          security: [],
          requestBody: body(
            {
              type: 'object',
              required: ['user', 'password', 'code'],
              properties: { user: { type: 'string' }, password: { type: 'string' }, code: { type: 'string' } },
            },
            true,
          ),
        },
      ),
    },
    '/logout': {
      post: op('End the session', {
        '200': json('Logged out', {
          type: 'object',
          required: ['loggedOut'],
          properties: { loggedOut: { type: 'boolean' } },
        }),
        ...CHANGE,
      }),
    },
    '/': {
      get: op('The WebUI (the login page, with 401, without a session)', {
        '200': text('WebUI', 'text/html'),
        '401': text('Login page', 'text/html'),
      }),
    },
    '/assets/{file}': {
      get: op(
        'WebUI scripts and styles',
        { '200': text('Asset', 'text/javascript'), '404': error('No such asset') },
        { security: [], parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }] },
      ),
    },
    '/openapi.json': { get: op('This document', { '200': json('OpenAPI 3.1', { type: 'object' }), ...COMMON }) },
  },
};

// GET /openapi.json.
export function openApiRoute(): Route {
  return {
    method: 'GET',
    path: '/openapi.json',
    summary: 'This document',
    access: 'session',
    handle: () => ({ body: OPENAPI }),
  };
}
