// What the dynamic linker reads of an ELF file: its type, its interpreter and its dynamic section's NEEDED, SONAME and
// RUNPATH entries. 64-bit little-endian only (the images are x86_64); anything else reads as "not ELF".

// One ELF file's linking facts.
export interface ElfLinks {
  // An executable (ET_EXEC, or ET_DYN with an interpreter: a PIE) or a shared object loaded by others.
  kind: 'executable' | 'shared-object';
  interpreter?: string;
  needed: string[];
  soname?: string;
  runpath: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

function cString(buf: Buffer, offset: number): string {
  if (offset < 0 || offset >= buf.length) return '';
  const end = buf.indexOf(0, offset);
  return buf.toString('latin1', offset, end < 0 ? buf.length : end);
}

// Reads an ELF file's links; undefined when buf is not a well-formed 64-bit little-endian ELF executable or library
// (an object file, a core dump, a truncated file: all bounds are checked, nothing is trusted).
export function readElfLinks(buf: Buffer): ElfLinks | undefined {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) return undefined;
  const type = buf.readUInt16LE(16);
  if (type !== 2 && type !== 3) return undefined;
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  if (phentsize < 56 || phoff + phnum * phentsize > buf.length) return undefined;
  const loads: Array<{ vaddr: bigint; offset: bigint; size: bigint }> = [];
  let dynamic: { offset: number; size: number } | undefined;
  let interpreter: string | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const ptype = buf.readUInt32LE(at);
    const offset = buf.readBigUInt64LE(at + 8);
    const vaddr = buf.readBigUInt64LE(at + 16);
    const filesz = buf.readBigUInt64LE(at + 32);
    if (offset + filesz > BigInt(buf.length)) continue;
    if (ptype === PT_LOAD) loads.push({ vaddr, offset, size: filesz });
    if (ptype === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(filesz) };
    if (ptype === PT_INTERP) interpreter = cString(buf, Number(offset));
  }
  const links: ElfLinks = {
    kind: type === 2 || interpreter !== undefined ? 'executable' : 'shared-object',
    interpreter,
    needed: [],
    runpath: [],
  };
  if (!dynamic) return links;
  const entries: Array<[bigint, bigint]> = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = buf.readBigInt64LE(at);
    if (tag === 0n) break;
    entries.push([tag, buf.readBigUInt64LE(at + 8)]);
  }
  const strtabAddress = entries.find(([tag]) => tag === DT_STRTAB)?.[1];
  const segment = loads.find(
    (l) => strtabAddress !== undefined && strtabAddress >= l.vaddr && strtabAddress < l.vaddr + l.size,
  );
  if (strtabAddress === undefined || !segment) return links;
  const strtab = Number(strtabAddress - segment.vaddr + segment.offset);
  for (const [tag, value] of entries) {
    const text = cString(buf, strtab + Number(value));
    if (tag === DT_NEEDED) links.needed.push(text);
    else if (tag === DT_SONAME) links.soname = text;
    else if (tag === DT_RUNPATH || tag === DT_RPATH) links.runpath.push(...text.split(':').filter(Boolean));
  }
  return links;
}
