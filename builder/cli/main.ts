// `mvos` entry point: argv → verb; the only place that prints errors and sets the exit code.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { UserError } from '../../common/errors.ts';
import { closest } from '../recipe/messages.ts';
import type { Command, CommandContext, Flags } from './command.ts';
import { commands } from './commands/index.ts';
import { exitCodeOf, renderError } from './render.ts';

const globalFlags: Flags = {
  help: { type: 'boolean', short: 'h' },
  debug: { type: 'boolean' },
  json: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  version: { type: 'boolean' },
};

const globalHelp: Record<string, string> = {
  help: 'show help for mvos or a verb',
  debug: 'show stack traces and causes on errors',
  json: 'machine-readable output (verbs that support it)',
  'no-color': 'no colours (also when NO_COLOR is set)',
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function flagLines(flags: Flags, help: Record<string, string>): string[] {
  return Object.entries(flags)
    .filter(([name]) => help[name])
    .map(([name, def]) => {
      const spelled = `${def.short ? `-${def.short}, ` : ''}--${name}${def.type === 'string' ? ' VALUE' : ''}`;
      return `  ${spelled.padEnd(26)} ${help[name]}`;
    });
}

// Help text for the whole CLI.
export function mainHelp(): string {
  return [
    `mvos ${version()} — build minimal, immutable hypervisor host images from recipes`,
    '',
    'usage: mvos <verb> [options]',
    '',
    'verbs:',
    ...commands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`),
    '',
    'options for every verb:',
    ...flagLines(globalFlags, globalHelp),
    '',
    "Run `mvos <verb> --help` for a verb's options. Exit codes: 0 ok, 1 failure, 2 wrong input.",
  ].join('\n');
}

// Help text for one verb.
export function commandHelp(command: Command, path: string[]): string {
  const lines = [`usage: ${command.usage}`, '', command.description ?? command.summary];
  if (command.subcommands?.length) {
    lines.push('', 'subcommands:', ...command.subcommands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`));
  }
  const own = flagLines(command.flags, command.flagHelp);
  if (own.length) lines.push('', 'options:', ...own);
  const global = flagLines(globalFlags, { ...globalHelp, json: command.json ? globalHelp.json! : '' });
  lines.push('', 'global options:', ...global);
  if (command.subcommands?.length) lines.push('', `Run \`mvos ${path.join(' ')} <subcommand> --help\` for details.`);
  return lines.join('\n');
}

function findCommand(list: readonly Command[], name: string, path: string[]): Command {
  const found = list.find((c) => c.name === name);
  if (found) return found;
  const guess = closest(
    name,
    list.map((c) => c.name),
  );
  const where = path.length ? `mvos ${path.join(' ')}` : 'mvos';
  throw new UserError(`unknown ${path.length ? 'subcommand' : 'verb'} "${name}"`, {
    hint: guess
      ? `did you mean \`${where} ${guess}\`? (\`${where} --help\` lists them)`
      : `run \`${where} --help\` to list them`,
  });
}

// Runs the CLI with the given arguments and returns the exit code; never throws.
export async function main(
  argv: string[],
  io = { out: (l: string) => console.log(l), err: (l: string) => console.error(l) },
): Promise<number> {
  const debug = argv.includes('--debug');
  const json = argv.includes('--json');
  const color = !argv.includes('--no-color') && !process.env.NO_COLOR && process.stderr.isTTY === true;
  try {
    const path: string[] = [];
    let list: readonly Command[] = commands;
    let command: Command | undefined;
    let rest = argv;
    while (rest.length > 0 && !rest[0]!.startsWith('-')) {
      if (!command && rest[0] === 'help') {
        rest = [...rest.slice(1), '--help'];
        continue;
      }
      if (command && !command.subcommands?.length) break;
      command = findCommand(list, rest[0]!, path);
      path.push(command.name);
      list = command.subcommands ?? [];
      rest = rest.slice(1);
    }
    if (!command) {
      if (argv.includes('--version')) {
        io.out(version());
        return 0;
      }
      if (argv.includes('--help') || argv.includes('-h') || rest.includes('--help')) {
        io.out(mainHelp());
        return 0;
      }
      throw new UserError(rest.length ? `unknown option ${rest[0]}` : 'no verb given', {
        hint: 'run `mvos --help` to list the verbs',
      });
    }
    let parsed: { values: CommandContext['flags']; positionals: string[] };
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...globalFlags, ...command.flags },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UserError((error as Error).message.replace(/\. To specify.*$/s, ''), {
        hint: `run \`mvos ${path.join(' ')} --help\` for its options`,
      });
    }
    if (parsed.values.help || !command.run) {
      io.out(commandHelp(command, path));
      return command.run || parsed.values.help ? 0 : 2;
    }
    if (json && !command.json) throw new UserError(`\`mvos ${path.join(' ')}\` has no --json output`);
    const ctx: CommandContext = {
      flags: parsed.values,
      positionals: parsed.positionals,
      json,
      debug,
      color,
      out: io.out,
      err: io.err,
      cwd: process.cwd(),
    };
    return await command.run(ctx);
  } catch (error) {
    const text = renderError(error, { debug, color, json });
    if (json) io.out(text);
    else io.err(text);
    return exitCodeOf(error);
  }
}
