// The shape every `mvos` verb has: its flags, its help text and what it runs.
import type { ParseArgsConfig } from 'node:util';

// Flag definitions as node:util parseArgs takes them.
export type Flags = NonNullable<ParseArgsConfig['options']>;

// What a verb gets when it runs: parsed flags, positionals and the output streams.
export interface CommandContext {
  flags: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  json: boolean;
  debug: boolean;
  color: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
  cwd: string;
}

// One verb of the CLI; `run` returns the exit code (errors are thrown, never printed here).
export interface Command {
  name: string;
  summary: string;
  usage: string;
  description?: string;
  flags: Flags;
  flagHelp: Record<string, string>;
  json?: boolean;
  subcommands?: Command[];
  run?: (ctx: CommandContext) => Promise<number>;
}
