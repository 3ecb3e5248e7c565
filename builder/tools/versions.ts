// Versions of the host tools whose output lands in images, for stage keys (a new zstd may compress differently).
import { runTool } from '../../common/exec.ts';

const known = new Map<string, Promise<string>>();

// The first line a tool prints for `--version` (or the given flag), asked once per process.
export function toolVersion(tool: string, flag = '--version'): Promise<string> {
  let version = known.get(tool);
  if (!version) {
    version = runTool(tool, [flag], { allowFailure: true }).then(
      (r) => `${tool}: ${(r.stdout || r.stderr).split('\n')[0]!.trim()}`,
    );
    known.set(tool, version);
  }
  return version;
}

// Installed versions of Debian packages (`name=version`, one per package, sorted) — the tools that write media bytes.
export async function packageVersions(packages: readonly string[]): Promise<string> {
  if (packages.length === 0) return '';
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Package} and ${Version} are dpkg-query's format fields, not a template
  const { stdout } = await runTool('dpkg-query', ['-W', '-f', '${Package}=${Version}\n', ...[...packages].sort()], {
    allowFailure: true,
  });
  return stdout.trim();
}
