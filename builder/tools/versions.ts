// Versions of the host tools whose output lands in images, for stage keys (a new zstd may compress differently). Each
// answer is asked once per process and kept across processes in the cache folder, keyed by the identity of the files it
// comes from (a tool's binary, dpkg's status file): a no-op build spawns none of these tools.
import { readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { runTool } from '../../common/exec.ts';
import { ContentCache } from '../inputs/cache.ts';
import { whichCommand } from './which.ts';

const DPKG_STATUS = '/var/lib/dpkg/status';
// Enough for every tool and package set a build asks about; older answers go first.
const MAX_ANSWERS = 200;

const asked = new Map<string, Promise<string>>();
let answers: Promise<Map<string, string>> | undefined;

function answersFile(): string {
  return join(ContentCache.fromEnvironment().root, 'tool-answers.json');
}

function loadAnswers(): Promise<Map<string, string>> {
  // A file that does not parse, or holds anything but strings, is as good as none: every answer is asked again.
  answers ??= readFile(answersFile(), 'utf8')
    .then((text) => Object.entries(JSON.parse(text) as Record<string, unknown>))
    .then((entries) => new Map(entries.filter((e): e is [string, string] => typeof e[1] === 'string')))
    .catch(() => new Map<string, string>());
  return answers;
}

// What names a file as it is now: a package upgrade replaces the file (new inode) or at least its times and size.
async function fileIdentity(path: string): Promise<string | undefined> {
  try {
    const real = await realpath(path);
    const s = await stat(real, { bigint: true });
    return `${real}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

// `ask()`'s answer, from this process or the cache folder while the files in `sources` are the same ones.
function remembered(question: string, sources: () => Promise<string[]>, ask: () => Promise<string>): Promise<string> {
  let answer = asked.get(question);
  if (!answer) {
    answer = (async () => {
      const ids = await Promise.all((await sources()).map(fileIdentity));
      if (ids.length === 0 || ids.some((id) => id === undefined)) return ask();
      const key = `${question}|${ids.join('|')}`;
      const known = await loadAnswers();
      const kept = known.get(key);
      if (kept !== undefined) return kept;
      const fresh = await ask();
      known.set(key, fresh);
      const newest = [...known].slice(-MAX_ANSWERS);
      // Another build may write at the same time: the file is replaced whole, and a lost answer is only asked again.
      await writeFileAtomic(answersFile(), `${JSON.stringify(Object.fromEntries(newest))}\n`).catch(() => undefined);
      return fresh;
    })();
    asked.set(question, answer);
  }
  return answer;
}

// `ask()`'s answer about `tools` (names on PATH), kept while each of those binaries is the same file.
export function toolAnswer(question: string, tools: readonly string[], ask: () => Promise<string>): Promise<string> {
  return remembered(
    question,
    async () => {
      const paths = await Promise.all(tools.map((tool) => whichCommand(tool)));
      return paths.every((p) => p !== undefined) ? (paths as string[]) : [];
    },
    ask,
  );
}

// The first line a tool prints for `--version` (or the given flag).
function toolFirstLine(tool: string, flag: string): Promise<string> {
  return toolAnswer(`${tool} ${flag}`, [tool], async () => {
    const r = await runTool(tool, [flag], { allowFailure: true });
    return (r.stdout || r.stderr).split('\n')[0]!.trim();
  });
}

// `tool: <its first line>` for `--version` (or the given flag).
export async function toolVersion(tool: string, flag = '--version'): Promise<string> {
  return `${tool}: ${await toolFirstLine(tool, flag)}`;
}

// Installed versions of Debian packages (`name=version`, one per package, sorted) — the tools that write media bytes.
export function packageVersions(packages: readonly string[]): Promise<string> {
  if (packages.length === 0) return Promise.resolve('');
  const sorted = [...packages].sort();
  return remembered(
    `dpkg-query ${sorted.join(' ')}`,
    async () => [DPKG_STATUS],
    async () => {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Package} and ${Version} are dpkg-query's format fields, not a template
      const { stdout } = await runTool('dpkg-query', ['-W', '-f', '${Package}=${Version}\n', ...sorted], {
        allowFailure: true,
      });
      return stdout.trim();
    },
  );
}
