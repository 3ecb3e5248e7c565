// The apt sources of one Debian release, written for the builder's own apt state: the release's suites from the
// mirror this machine already uses, verified only by that release's archive keys.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailureError, UserError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import type { DebianSuite } from '../recipe/types.ts';

// What the lockfile records of where its packages came from: everything but the mirror, which the sha256 pins make
// irrelevant to the bytes.
export interface LockedDebian {
  suite: DebianSuite;
  archives: Array<{ archive: 'debian' | 'debian-security'; suites: string[] }>;
  components: string[];
  // Keyring file (under the keyrings folder) → its sha256.
  keyrings: Record<string, string>;
}

// The Debian mirror base URIs this machine's apt is set up with.
export interface DebianMirrors {
  debian: string;
  security: string;
}

// Where Debian's debian-archive-keyring package puts the per-release keys.
export const keyringsDir = '/usr/share/keyrings';

const knownCodenames = ['bullseye', 'bookworm', 'trixie', 'forky', 'sid'];

// The archives, suites, components and key files a release is fetched from (keys not yet hashed).
export function debianSourcesOf(suite: DebianSuite): Omit<LockedDebian, 'keyrings'> & { keyringFiles: string[] } {
  return {
    suite,
    archives: [
      { archive: 'debian', suites: [suite, `${suite}-updates`] },
      { archive: 'debian-security', suites: [`${suite}-security`] },
    ],
    components: ['main'],
    // The release's own keys: its stable release key, the archive's and the security archive's automatic keys.
    keyringFiles: [
      `debian-archive-${suite}-automatic.gpg`,
      `debian-archive-${suite}-security-automatic.gpg`,
      `debian-archive-${suite}-stable.gpg`,
    ],
  };
}

// Reads the machine's Debian mirrors from apt's own view of its sources (one-line and deb822 files alike).
export async function machineDebianMirrors(): Promise<DebianMirrors> {
  const result = await runTool(
    'apt-get',
    ['indextargets', '--format', '$(REPO_URI)|$(RELEASE)|$(ORIGIN)|$(LABEL)', 'Created-By: Packages'],
    { env: { LC_ALL: 'C', LANG: 'C', LANGUAGE: '' }, timeoutMs: 60_000, allowFailure: true },
  );
  return pickDebianMirrors(result.stdout);
}

// Picks the main and the security archive among apt's index targets: by label where the Release file was read, by
// suite name otherwise.
export function pickDebianMirrors(indexTargets: string): DebianMirrors {
  let debian: string | undefined;
  let security: string | undefined;
  for (const line of indexTargets.split('\n')) {
    const [uri, release, origin, label] = line.split('|');
    if (!uri || !release || !/^https?:\/\//.test(uri)) continue;
    const base = uri.replace(/\/+$/, '');
    const codename = release.replace(/-(updates|security|backports|proposed-updates)$/, '');
    if (!knownCodenames.includes(codename) || (origin && origin !== 'Debian')) continue;
    if (label === 'Debian-Security' || release.endsWith('-security')) security ??= base;
    else if (release === codename || release.endsWith('-updates')) debian ??= base;
  }
  if (!debian) {
    throw new UserError("this machine's apt sources name no Debian archive to fetch from", {
      hint: 'add a Debian entry to /etc/apt/sources.list.d/, or give the sources with --apt-sources FILE',
    });
  }
  return { debian, security: security ?? `${debian}-security` };
}

// Hashes the release's key files; a missing one is named with the package that brings it.
export async function hashKeyrings(
  files: readonly string[],
  dir: string = keyringsDir,
): Promise<Record<string, string>> {
  const keyrings: Record<string, string> = {};
  for (const file of files) {
    const bytes = await readFile(join(dir, file)).catch(() => undefined);
    if (!bytes) {
      throw new UserError(`the Debian archive key ${join(dir, file)} is not on this machine`, {
        hint: 'install or upgrade debian-archive-keyring (`mvos doctor --fix`)',
      });
    }
    keyrings[file] = createHash('sha256').update(bytes).digest('hex');
  }
  return keyrings;
}

// Refuses to fetch with keys other than the ones the lock was made with.
export async function assertKeyringsMatch(
  locked: LockedDebian,
  shown: string,
  dir: string = keyringsDir,
): Promise<void> {
  const now = await hashKeyrings(Object.keys(locked.keyrings), dir);
  const changed = Object.keys(locked.keyrings).filter((file) => now[file] !== locked.keyrings[file]);
  if (changed.length > 0) {
    throw new FailureError(`the Debian archive keys ${changed.join(', ')} differ from those ${shown} was made with`, {
      hint: `check the debian-archive-keyring package on this machine; if the keys were renewed on purpose, run \`mvos lock\` again`,
    });
  }
}

// Writes a deb822 sources file for the release into dir and returns its path with what the lock records.
export async function writeDebianSources(
  dir: string,
  suite: DebianSuite,
  mirrors: DebianMirrors,
  keys: string = keyringsDir,
): Promise<{ file: string; locked: LockedDebian }> {
  const { keyringFiles, ...sources } = debianSourcesOf(suite);
  const keyrings = await hashKeyrings(keyringFiles, keys);
  const signedBy = keyringFiles.map((file) => join(keys, file)).join(' ');
  const stanzas = sources.archives.map(({ archive, suites }) =>
    [
      'Types: deb',
      `URIs: ${archive === 'debian' ? mirrors.debian : mirrors.security}`,
      `Suites: ${suites.join(' ')}`,
      `Components: ${sources.components.join(' ')}`,
      `Signed-By: ${signedBy}`,
    ].join('\n'),
  );
  // apt reads deb822 only from files named *.sources.
  const file = join(dir, `${suite}.sources`);
  await writeFile(file, `${stanzas.join('\n\n')}\n`);
  return { file, locked: { ...sources, keyrings } };
}

// The sources an apt context for a release resolves or fetches against: the file the user gave (recorded as given, with
// no archives or keys of ours), or one written for this machine's mirror.
export async function sourcesForSuite(
  workDir: string,
  suite: DebianSuite,
  given: string | undefined,
): Promise<{ file: string; locked: LockedDebian }> {
  if (given !== undefined) return { file: given, locked: { suite, archives: [], components: [], keyrings: {} } };
  return writeDebianSources(workDir, suite, await machineDebianMirrors());
}

// The sources to fetch a lock's pins with: the release and keys it was made with, or the file given again.
export async function sourcesForLock(
  workDir: string,
  locked: LockedDebian,
  given: string | undefined,
  shown: string,
): Promise<string> {
  if (given !== undefined) return given;
  if (locked.archives.length === 0) {
    throw new UserError(`${shown} was made from apt sources given with --apt-sources`, {
      hint: 'give the same sources again with --apt-sources FILE, or run `mvos lock` without it',
    });
  }
  await assertKeyringsMatch(locked, shown);
  return (await writeDebianSources(workDir, locked.suite, await machineDebianMirrors())).file;
}
