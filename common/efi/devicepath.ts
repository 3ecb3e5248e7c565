// UEFI device paths as text, for the node types boot options commonly hold; other nodes print as
// Path(type,subtype,hex).
import { readGuid } from './guid.ts';

function node(type: number, sub: number, d: Buffer): string {
  const hex = d.toString('hex');
  switch (`${type}/${sub}`) {
    case '1/1':
      return `Pci(0x${d[1]!.toString(16)},0x${d[0]!.toString(16)})`;
    case '2/1': {
      const hid = d.readUInt32LE(0);
      const uid = d.readUInt32LE(4);
      return hid === 0x0a0341d0
        ? `PciRoot(0x${uid.toString(16)})`
        : `Acpi(0x${hid.toString(16)},0x${uid.toString(16)})`;
    }
    case '3/1':
      return `Ata(${d[0] ? 'Secondary' : 'Primary'},${d[1] ? 'Slave' : 'Master'},0x${d.readUInt16LE(2).toString(16)})`;
    case '3/2':
      return `Scsi(0x${d.readUInt16LE(0).toString(16)},0x${d.readUInt16LE(2).toString(16)})`;
    case '3/5':
      return `USB(0x${d[0]!.toString(16)},0x${d[1]!.toString(16)})`;
    case '3/11':
      return `MAC(${d.subarray(0, 6).toString('hex')},0x${d[32]!.toString(16)})`;
    case '3/12':
      return `IPv4(${[...d.subarray(4, 8)].join('.')})`;
    case '3/13':
      return 'IPv6()';
    case '3/18':
      return `Sata(0x${d.readUInt16LE(0).toString(16)},0x${d.readUInt16LE(2).toString(16)},0x${d.readUInt16LE(4).toString(16)})`;
    case '3/23':
      return `NVMe(0x${d.readUInt32LE(0).toString(16)},${d.subarray(4, 12).toString('hex')})`;
    case '3/24':
      return `Uri(${d.toString('utf8')})`;
    case '4/1': {
      const part = d.readUInt32LE(0);
      const start = d.readBigUInt64LE(4);
      const size = d.readBigUInt64LE(12);
      const sig = d[37] === 2 ? readGuid(d, 20) : `0x${d.readUInt32LE(20).toString(16)}`;
      return `HD(${part},${d[37] === 2 ? 'GPT' : 'MBR'},${sig},0x${start.toString(16)},0x${size.toString(16)})`;
    }
    case '4/2':
      return `CDROM(0x${d.readUInt32LE(0).toString(16)})`;
    case '4/4':
      return d.toString('utf16le').replace(/\0+$/, '');
    case '4/6':
      return `FvFile(${readGuid(d, 0)})`;
    case '4/7':
      return `Fv(${readGuid(d, 0)})`;
    case '4/8':
      return `Offset(0x${d.readBigUInt64LE(0).toString(16)},0x${d.readBigUInt64LE(8).toString(16)})`;
    case '1/4':
    case '3/10':
    case '4/3':
      return `Ven${type === 1 ? 'Hw' : type === 3 ? 'Msg' : 'Media'}(${readGuid(d, 0)}${d.length > 16 ? `,${d.subarray(16).toString('hex')}` : ''})`;
    default:
      return `Path(${type},${sub},${hex})`;
  }
}

// One device path node: type, subtype, its length, the body.
export function devicePathNode(type: number, sub: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = type;
  head[1] = sub;
  head.writeUInt16LE(4 + body.length, 2);
  return Buffer.concat([head, body]);
}

// Renders a device path (one instance, up to its end node) as text nodes joined by '/'.
export function devicePathText(buf: Buffer): string {
  const parts: string[] = [];
  let o = 0;
  while (o + 4 <= buf.length) {
    const type = buf[o]!;
    const sub = buf[o + 1]!;
    const len = buf.readUInt16LE(o + 2);
    if (len < 4 || o + len > buf.length) return [...parts, '(malformed)'].join('/');
    if (type === 0x7f) {
      if (sub === 0xff) break;
      parts.push(',');
    } else {
      parts.push(node(type, sub, buf.subarray(o + 4, o + len)));
    }
    o += len;
  }
  return parts.join('/').replaceAll('/,/', ',');
}
