// `mvos user passwd USER`: sets an agent user's password (its scrypt hash) in the key folder, for the HTTP login.

import { UserError } from '../../../common/errors.ts';
import { setPassword } from '../../secrets/store.ts';
import type { Command, CommandContext } from '../command.ts';
import { keyDirOf, userOf } from './otp.ts';

const PASSWD_USAGE = 'mvos user passwd USER [--key-dir DIR] (password on stdin, or typed twice at a terminal)';

// Reads one line from the terminal without echoing it.
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let line = '';
    const done = (error?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(line);
    };
    const onData = (data: Buffer): void => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          done();
          return;
        }
        if (char === '\u0003') {
          done(new UserError('cancelled'));
          return;
        }
        if (char === '\u007f' || char === '\b') line = line.slice(0, -1);
        else line += char;
      }
    };
    stdin.on('data', onData);
  });
}

// The first line of stdin (for scripts: `printf '%s\n' "$PW" | mvos user passwd alice`).
async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0]!.replace(/\r$/, '');
}

async function passwd(ctx: CommandContext): Promise<number> {
  const user = userOf(ctx, PASSWD_USAGE);
  let password: string;
  if (process.stdin.isTTY) {
    password = await promptHidden(`new password for ${user}: `);
    if ((await promptHidden('again: ')) !== password)
      throw new UserError('the two passwords differ; nothing was changed');
  } else password = await readStdinLine();
  const keyDir = keyDirOf(ctx);
  await setPassword(keyDir, user, password);
  ctx.out(
    `stored the password hash of ${user} in ${keyDir}; the next \`mvos build\` puts it into host.json (recipe: agent.users[].password: true).`,
  );
  return 0;
}

// The user verb.
export const userCommand: Command = {
  name: 'user',
  summary: "set an agent user's password (HTTP API and WebUI login)",
  usage: 'mvos user passwd USER [--key-dir DIR]',
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'passwd',
      summary: 'store the scrypt hash of a new password',
      usage: PASSWD_USAGE,
      flags: { 'key-dir': { type: 'string' } },
      flagHelp: { 'key-dir': 'the key folder (default $XDG_CONFIG_HOME/mvos/keys)' },
      run: passwd,
    },
  ],
};
