// What a container runs, from its image config (Entrypoint, Cmd, Env, WorkingDir, User) and a launch's overrides, and
// the small raw disk that carries it to the microVM's init: one base64 value a line, so no byte of an argument is ever
// seen by a shell's word splitting, globbing or quoting.
import { UserError } from '../../common/errors.ts';
import { readInside } from './oci-files.ts';

// The run configuration of one container, exactly as its process will see it.
export interface ContainerRunConfig {
  argv: string[];
  env: string[];
  workingDir: string;
  // As the image names it ('' for root), and as numbers resolved against the image's /etc/passwd and /etc/group.
  user: string;
  uid: number;
  gid: number;
}

// What a launch may change; an entrypoint override drops the image's Cmd, as `docker run --entrypoint` does.
export interface RunOverrides {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
}

// Docker's default for images that set no PATH.
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HEADER = 'MVOS-CONTAINER 1';
const SECTOR = 512;
const MAX_BYTES = 1 << 20;
// Far above any real /etc/passwd or /etc/group; a bigger one is not read into memory.
const MAX_TABLE_BYTES = 16 << 20;

function strings(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new UserError(`the image config's ${what} must be a list of strings`);
  return value as string[];
}

// Later entries win by name, keeping the first position of each name.
function mergeEnv(base: string[], extra: string[]): string[] {
  const byName = new Map<string, string>();
  for (const entry of [...base, ...extra]) {
    if (!entry.includes('=')) throw new UserError(`environment entry ${JSON.stringify(entry)} is not NAME=value`);
    byName.set(entry.slice(0, entry.indexOf('=')), entry);
  }
  return [...byName.values()];
}

// The run configuration before the user is resolved (that needs the unpacked tree).
export function runConfig(
  config: Record<string, unknown>,
  overrides: RunOverrides = {},
): Omit<ContainerRunConfig, 'uid' | 'gid'> {
  const c = (config.config ?? {}) as Record<string, unknown>;
  const entrypoint = overrides.entrypoint ?? strings(c.Entrypoint, 'Entrypoint');
  const cmd = overrides.cmd ?? (overrides.entrypoint ? [] : strings(c.Cmd, 'Cmd'));
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0)
    throw new UserError('the image has neither Entrypoint nor Cmd, and the launch gives no command', {
      hint: 'pass a command for the container',
    });
  let env = mergeEnv(strings(c.Env, 'Env'), overrides.env ?? []);
  if (!env.some((e) => e.startsWith('PATH='))) env = [DEFAULT_PATH, ...env];
  const workingDir =
    overrides.workingDir ?? (typeof c.WorkingDir === 'string' && c.WorkingDir !== '' ? c.WorkingDir : '/');
  if (!workingDir.startsWith('/'))
    throw new UserError(`working directory ${JSON.stringify(workingDir)} is not absolute`);
  for (const text of [...argv, ...env, workingDir])
    if (text.includes('\0'))
      throw new UserError('a command, environment entry or working directory contains a NUL byte');
  return { argv, env, workingDir, user: typeof c.User === 'string' ? c.User : '' };
}

function lookup(table: string, name: string, field: number): number | undefined {
  for (const line of table.split('\n')) {
    const cols = line.split(':');
    if (cols[0] === name && cols[field] !== undefined && /^\d+$/.test(cols[field])) return Number(cols[field]);
  }
  return undefined;
}

// `user`, `uid`, `user:group`, `uid:gid` → numbers, names looked up in the unpacked image (as the image's runtime
// would). The tables are read inside the image only, and only when a name needs them.
export async function resolveUser(root: string, user: string): Promise<{ uid: number; gid: number }> {
  if (user === '') return { uid: 0, gid: 0 };
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const numeric = (text: string) => /^\d+$/.test(text);
  const table = async (name: string) => (await readInside(root, name, `the image's /${name}`, MAX_TABLE_BYTES)) ?? '';
  const passwd = numeric(u) ? '' : await table('etc/passwd');
  const uid = numeric(u) ? Number(u) : lookup(passwd, u, 2);
  if (uid === undefined)
    throw new UserError(`the image's user ${JSON.stringify(u)} is not in its /etc/passwd`, {
      hint: 'use a numeric uid or add the user to the image',
    });
  const named = g === undefined ? undefined : numeric(g) ? Number(g) : lookup(await table('etc/group'), g, 2);
  if (g !== undefined && named === undefined)
    throw new UserError(`the image's group ${JSON.stringify(g)} is not in its /etc/group`);
  const primary = numeric(u) ? undefined : lookup(passwd, u, 3);
  return { uid, gid: named ?? primary ?? (numeric(u) ? Number(u) : 0) };
}

// The config disk: header, `user UID:GID`, `workdir`, each `env`, each `arg` (base64), `end`, zero-padded to whole
// sectors.
export function configDisk(run: ContainerRunConfig): Buffer {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  const lines = [
    HEADER,
    `user ${run.uid}:${run.gid}`,
    `workdir ${b64(run.workingDir)}`,
    ...run.env.map((e) => `env ${b64(e)}`),
    ...run.argv.map((a) => `arg ${b64(a)}`),
    'end',
    '',
  ];
  const text = Buffer.from(lines.join('\n'), 'utf8');
  if (text.length > MAX_BYTES)
    throw new UserError(`the container's command and environment take ${text.length} bytes; at most ${MAX_BYTES} fit`);
  const padded = Buffer.alloc(Math.ceil((text.length + 1) / SECTOR) * SECTOR);
  text.copy(padded);
  return padded;
}
