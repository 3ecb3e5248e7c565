// Where the onion service's doors are (unix sockets in the agent's run folder, root-only) and the program that joins a
// connection the gateway's local link forwards to one of them.
import { access, constants, mkdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { FailureError } from '../../common/errors.ts';

// The doors: the API always, the SSH jail when the agent serves it.
export interface OnionDoors {
  api: string;
  ssh?: string;
}

// Makes the doors' folder (0700) and names the sockets in it.
export async function onionDoors(runDir: string, ssh: boolean): Promise<OnionDoors> {
  const dir = join(runDir, 'onion');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { api: join(dir, 'api.sock'), ...(ssh ? { ssh: join(dir, 'ssh.sock') } : {}) };
}

// socat's full path on PATH; a host that publishes an onion service without it is a build mistake, said plainly.
export async function findSocat(path = process.env.PATH ?? '/usr/bin:/bin'): Promise<string> {
  for (const dir of path.split(delimiter).filter((d) => d.startsWith('/'))) {
    const file = join(dir, 'socat');
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  throw new FailureError('the host publishes an onion service but has no socat to join its gateway to the agent', {
    hint: 'add socat to the host recipe packages (the recipe check asks for it)',
  });
}
