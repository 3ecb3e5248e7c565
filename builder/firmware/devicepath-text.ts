// Device paths from text, for the node types a preset's boot entry names: PciRoot(n), Pci(dev,fn) and a file path.
import { devicePathNode } from '../../common/efi/devicepath.ts';

// Encodes e.g. `PciRoot(0x0)/Pci(0x5,0x0)/\EFI\BOOT\BOOTX64.EFI` into a device path ending with the end node.
export function devicePathFromText(text: string): Buffer {
  const nodes: Buffer[] = [];
  const fileAt = text.indexOf('\\');
  const head = fileAt >= 0 ? text.slice(0, fileAt) : text;
  for (const part of head.split('/').filter(Boolean)) {
    let m = /^PciRoot\((\w+)\)$/.exec(part);
    if (m) {
      const body = Buffer.alloc(8);
      body.writeUInt32LE(0x0a0341d0, 0);
      body.writeUInt32LE(Number(m[1]), 4);
      nodes.push(devicePathNode(2, 1, body));
      continue;
    }
    m = /^Pci\((\w+),(\w+)\)$/.exec(part);
    if (m) {
      nodes.push(devicePathNode(1, 1, Buffer.from([Number(m[2]), Number(m[1])])));
      continue;
    }
    throw new Error(`device path node "${part}" is not supported (PciRoot(n), Pci(dev,fn) and a \\file path are)`);
  }
  if (fileAt >= 0) nodes.push(devicePathNode(4, 4, Buffer.from(`${text.slice(fileAt)}\0`, 'utf16le')));
  nodes.push(devicePathNode(0x7f, 0xff, Buffer.alloc(0)));
  return Buffer.concat(nodes);
}
