// A tiny multiboot "kernel" for tests of the QEMU plumbing: it prints its command line and a marker on COM1 in well
// under a second of TCG. QEMU's -kernel loads multiboot images itself (through SeaBIOS's option ROM), so it stands in
// for vmlinuz where no real kernel is needed.

// What the stub does: the marker it prints (none: prints only its command line) and what it does afterwards.
export interface StubKernelOptions {
  marker?: string;
  // halt: spin with interrupts off until stopped; poweroff: ACPI S5 through the PM block firmware puts at 0x600 (q35
  // and pc).
  after: 'halt' | 'poweroff';
}

const LOAD = 0x0010_0000;
const HEADER = 32;
const MAGIC = 0x1bad_b002;
// Bit 16: the header carries load addresses, so QEMU loads the flat image without an ELF header.
const FLAGS = 0x0001_0000;

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}

// The image: multiboot header, 32-bit code, then the strings it prints.
export function stubKernel(options: StubKernelOptions): Buffer {
  const code: number[] = [];
  const calls: Array<{ at: number; to: 'print' }> = [];
  const strings: Array<{ at: number; text: string }> = [];
  const mov = (text: string): void => {
    code.push(0xbe, 0, 0, 0, 0); //                 mov esi, <string>
    strings.push({ at: code.length - 4, text });
  };
  const call = (): void => {
    code.push(0xe8, 0, 0, 0, 0); //                 call print
    calls.push({ at: code.length - 4, to: 'print' });
  };
  code.push(0xfc); //                               cld
  code.push(0xbc, ...u32(0x9_0000)); //             mov esp, 0x90000   ; multiboot leaves the stack undefined
  code.push(0x66, 0xba, 0xf8, 0x03); //             mov dx, 0x3f8      ; COM1 data port
  code.push(0xf6, 0x03, 0x04); //                   test byte [ebx], 4 ; multiboot info has a command line?
  code.push(0x74, 0); //                            jz skip
  const skipAt = code.length - 1;
  mov('cmdline: ');
  call();
  code.push(0x8b, 0x73, 0x10); //                   mov esi, [ebx+16]
  call();
  code.push(0xb0, 0x0a, 0xee); //                   mov al, 10 / out dx, al
  code[skipAt] = code.length - (skipAt + 1);
  if (options.marker !== undefined) {
    mov(`${options.marker}\n`);
    call();
  }
  if (options.after === 'poweroff') {
    code.push(0x66, 0xba, 0x04, 0x06); //           mov dx, 0x604      ; PM1a control
    code.push(0x66, 0xb8, 0x00, 0x20); //           mov ax, 0x2000     ; SLP_EN, sleep type 0 (S5 in QEMU's DSDT)
    code.push(0x66, 0xef); //                       out dx, ax
  }
  code.push(0xfa, 0xf4, 0xeb, 0xfd); //             cli / hlt / jmp hlt
  const print = code.length;
  code.push(0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xc3); // lodsb / test al,al / jz ret / out dx,al / jmp print / ret
  for (const { at } of calls) code.splice(at, 4, ...u32(print - (at + 4)));
  const data: number[] = [];
  for (const { at, text } of strings) {
    code.splice(at, 4, ...u32(LOAD + HEADER + code.length + data.length));
    data.push(...Buffer.from(`${text}\0`, 'latin1'));
  }
  const header = [MAGIC, FLAGS, -(MAGIC + FLAGS) >>> 0, LOAD, LOAD, 0, 0, LOAD + HEADER].flatMap(u32);
  return Buffer.from([...header, ...code, ...data]);
}
