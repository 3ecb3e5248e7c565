// Takes a Debian linux-image package apart: the boot image and the modules tree, nothing else.
import { FailureError } from '../../common/errors.ts';
import { debDataEntries } from '../inputs/deb.ts';

// A kernel as a linux-image package ships it; module paths are relative to lib/modules/<version>/.
export interface DebianKernel {
  version: string;
  vmlinuz: Buffer;
  modules: Map<string, Buffer>;
}

// Debian 12 installs modules under /lib; later releases moved them to /usr/lib with usrmerge.
const MODULE_ROOTS = ['lib/modules/', 'usr/lib/modules/'];

// Reads boot/vmlinuz-<version> and every regular file under lib/modules/<version>/ (modules kept as shipped: .ko,
// .ko.xz or .ko.zst).
export async function extractDebianKernel(deb: Buffer, label: string): Promise<DebianKernel> {
  const images = new Map<string, Buffer>();
  const files = new Map<string, Map<string, Buffer>>();
  const links: { version: string; path: string; target: string }[] = [];
  for await (const { header, content } of debDataEntries(deb, label)) {
    const image = /^boot\/vmlinuz-(.+)$/.exec(header.name);
    if (image && header.type === 'file') {
      images.set(image[1]!, content);
      continue;
    }
    const root = MODULE_ROOTS.find((prefix) => header.name.startsWith(prefix));
    if (!root) continue;
    const rest = header.name.slice(root.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const version = rest.slice(0, slash);
    const path = rest.slice(slash + 1);
    if (header.type === 'file') {
      if (!files.has(version)) files.set(version, new Map());
      files.get(version)!.set(path, content);
    } else if (header.type === 'link') {
      links.push({ version, path, target: header.linkname ?? '' });
    }
  }
  if (images.size !== 1) {
    throw new FailureError(
      images.size === 0
        ? `${label} has no boot/vmlinuz-<version>: it is not a kernel image package`
        : `${label} holds several kernels (${[...images.keys()].sort().join(', ')}); mvos expects exactly one`,
      { hint: 'pin a linux-image-<version>-<flavour> package, not a meta package such as linux-image-amd64' },
    );
  }
  const [version, vmlinuz] = [...images.entries()][0]!;
  const modules = files.get(version) ?? new Map<string, Buffer>();
  const strays = [...files.keys()].filter((v) => v !== version);
  if (strays.length > 0) {
    throw new FailureError(`${label}: modules for ${strays.join(', ')} do not belong to its kernel ${version}`);
  }
  for (const link of links.filter((l) => l.version === version)) {
    const target = modulePath(link.target.replace(/^\.?\//, ''), version);
    if (target === undefined || !modules.has(target)) {
      throw new FailureError(
        `${label}: hard link lib/modules/${version}/${link.path} points at ${link.target}, which it does not hold`,
      );
    }
    modules.set(link.path, modules.get(target)!);
  }
  return {
    version,
    vmlinuz,
    modules: new Map([...modules.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  };
}

function modulePath(name: string, version: string): string | undefined {
  const root = MODULE_ROOTS.find((prefix) => name.startsWith(`${prefix}${version}/`));
  return root === undefined ? undefined : name.slice(`${root}${version}/`.length);
}
