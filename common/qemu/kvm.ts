// Whether KVM really runs guests here: boots a hand-written boot sector under `-accel kvm` with a hard timeout.
import { constants, readFileSync } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../exec.ts';

// Outcome of the KVM probe: usable or not, and why in words.
export interface KvmProbe {
  usable: boolean;
  reason: string;
}

// What one run of the probe guest did.
export interface ProbeRun {
  exitCode: number;
  timedOut: boolean;
  ms: number;
  stderr: string;
}

// isa-debug-exit makes QEMU exit with (value << 1) | 1; the probe writes 0x2a.
export const PROBE_EXIT_CODE = (0x2a << 1) | 1;

const PROBE_LOOPS = 0x0100_0000;
const DEFAULT_TIMEOUT_MS = 5000;
// The subprocess is killed at timeoutMs; this guards against a process that does not die on SIGTERM/SIGKILL in time.
const GRACE_MS = 1500;

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}

// Where SeaBIOS loads a boot sector; the code below uses absolute addresses from here.
const LOAD = 0x7c00;
const LONG64 = 0x67;
const GDT = 0x78;
const GDTR = 0x88;

// Enters 64-bit long mode with paging (what every kernel does first) and spins PROBE_LOOPS times before reporting,
// because this host's broken KVM survives a few instructions and still crawls or hangs on real kernels: a healthy
// KVM finishes the loop in milliseconds, a guest whose every instruction is emulated or stuck does not.
const code16: number[] = [
  0xfa, //                                   cli
  0x31,
  0xc0, //                             xor ax, ax
  0x8e,
  0xd8, //                             mov ds, ax
  0x8e,
  0xc0, //                             mov es, ax
  0xbf,
  0x00,
  0x10, //                       mov di, 0x1000          ; page tables at 0x1000..0x3fff
  0xb9,
  0x00,
  0x0c, //                       mov cx, 0x0c00          ; 3 pages in dwords
  0x66,
  0x31,
  0xc0, //                       xor eax, eax
  0x66,
  0xf3,
  0xab, //                       rep stosd               ; zero them
  0x66,
  0xc7,
  0x06,
  0x00,
  0x10,
  ...u32(0x2003), // mov dword [0x1000], 0x2003 ; PML4[0] -> PDPT, present+rw
  0x66,
  0xc7,
  0x06,
  0x00,
  0x20,
  ...u32(0x3003), // mov dword [0x2000], 0x3003 ; PDPT[0] -> PD, present+rw
  0x66,
  0xc7,
  0x06,
  0x00,
  0x30,
  ...u32(0x83), //   mov dword [0x3000], 0x83   ; PD[0]: 2 MiB identity page
  0x66,
  0xb8,
  ...u32(0x20), //               mov eax, 0x20           ; CR4.PAE
  0x0f,
  0x22,
  0xe0, //                       mov cr4, eax
  0x66,
  0xb8,
  ...u32(0x1000), //             mov eax, 0x1000
  0x0f,
  0x22,
  0xd8, //                       mov cr3, eax            ; PML4
  0x66,
  0xb9,
  ...u32(0xc0000080), //         mov ecx, IA32_EFER
  0x0f,
  0x32, //                             rdmsr
  0x66,
  0x0d,
  ...u32(0x100), //              or eax, 0x100           ; EFER.LME
  0x0f,
  0x30, //                             wrmsr
  0x66,
  0x0f,
  0x01,
  0x16,
  (LOAD + GDTR) & 0xff,
  (LOAD + GDTR) >> 8, // lgdt [GDTR]
  0x66,
  0xb8,
  ...u32(0x80000001), //         mov eax, PG | PE
  0x0f,
  0x22,
  0xc0, //                       mov cr0, eax            ; long mode active
  0x66,
  0xea,
  ...u32(LOAD + LONG64),
  0x08,
  0x00, // jmp dword 0x08:LONG64 ; into the 64-bit code segment
];

const code64: number[] = [
  0xb9,
  ...u32(PROBE_LOOPS), //              mov ecx, PROBE_LOOPS
  0xff,
  0xc9, //                             dec ecx
  0x75,
  0xfc, //                             jnz (back to dec)
  0xb0,
  0x2a, //                             mov al, 0x2a
  0xe6,
  0xf4, //                             out 0xf4, al            ; isa-debug-exit: QEMU exits with PROBE_EXIT_CODE
  0xf4, //                                   hlt
  0xeb,
  0xfd, //                             jmp (back to hlt)
];

const gdt: number[] = [
  ...[0, 0, 0, 0, 0, 0, 0, 0], //            null descriptor
  ...[0, 0, 0, 0, 0, 0x9a, 0x20, 0], //      0x08: present ring-0 code, L=1 (64-bit)
];

const gdtr: number[] = [0x0f, 0x00, ...u32(LOAD + GDT)]; // limit 15, base

// The 512-byte probe boot sector (code, GDT, 0x55AA signature).
export function probeBootSector(): Uint8Array {
  if (code16.length !== LONG64)
    throw new Error(`probe boot sector: 16-bit code is ${code16.length} bytes, expected ${LONG64}`);
  const sector = new Uint8Array(512);
  sector.set(code16, 0);
  sector.set(code64, LONG64);
  sector.set(gdt, GDT);
  sector.set(gdtr, GDTR);
  sector.set([0x55, 0xaa], 510);
  return sector;
}

// QEMU arguments that boot the probe image from an IDE disk through SeaBIOS with the given accelerator.
export function probeArgs(accel: 'kvm' | 'tcg', image: string): string[] {
  return [
    '-accel',
    accel,
    '-machine',
    'pc',
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-m',
    '16',
    '-bios',
    '/usr/share/seabios/bios.bin',
    '-drive',
    `file=${image},format=raw,if=ide`,
    '-device',
    'isa-debug-exit,iobase=0xf4,iosize=0x04',
  ];
}

// Boots the probe guest once; never takes longer than timeoutMs plus a short grace period.
export async function runProbeGuest(
  accel: 'kvm' | 'tcg',
  options: { timeoutMs?: number; qemu?: string } = {},
): Promise<ProbeRun> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const dir = await mkdtemp(join(tmpdir(), 'mvos-kvm-probe-'));
  const started = performance.now();
  let guard: NodeJS.Timeout | undefined;
  try {
    const image = join(dir, 'probe.img');
    await writeFile(image, probeBootSector());
    const run = runTool(options.qemu ?? 'qemu-system-x86_64', probeArgs(accel, image), {
      timeoutMs,
      allowFailure: true,
    });
    const stuck = new Promise<undefined>((resolve) => {
      guard = setTimeout(() => resolve(undefined), timeoutMs + GRACE_MS);
      guard.unref();
    });
    const result = await Promise.race([run, stuck]);
    const ms = Math.round(performance.now() - started);
    if (!result) return { exitCode: -1, timedOut: true, ms, stderr: '' };
    // QEMU exits 0 on the SIGTERM sent at the limit, so the clock, not the exit code, tells a timeout apart.
    const timedOut = result.exitCode !== PROBE_EXIT_CODE && ms >= timeoutMs;
    return { exitCode: result.exitCode, timedOut, ms, stderr: result.stderr };
  } finally {
    clearTimeout(guard);
    await rm(dir, { recursive: true, force: true });
  }
}

// Decides whether QEMU may use KVM: /dev/kvm must be usable and the probe guest must finish in time.
export async function probeKvm(
  options: { timeoutMs?: number; qemu?: string; device?: string; cpuinfo?: string } = {},
): Promise<KvmProbe> {
  const device = options.device ?? '/dev/kvm';
  const emulated = emulatedCpuModel(options.cpuinfo ?? '/proc/cpuinfo');
  if (emulated) {
    // Seen here: a host image booted under TCG gets kvm_amd on the emulated SVM, and tearing down the probe VM
    // soft-locked its kernel for minutes. Nested KVM on a CPU model QEMU emulates is never worth that risk.
    return {
      usable: false,
      reason: `this machine is a QEMU guest on an emulated CPU model (${emulated}): nested KVM is not used`,
    };
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const qemu = options.qemu ?? 'qemu-system-x86_64';
  try {
    await access(device, constants.F_OK);
  } catch {
    return { usable: false, reason: `${device} does not exist (no KVM on this host)` };
  }
  try {
    await access(device, constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, reason: `${device} is not readable and writable by this user (add it to the kvm group)` };
  }
  const run = await runProbeGuest('kvm', { timeoutMs, qemu });
  if (run.exitCode === PROBE_EXIT_CODE) {
    return {
      usable: true,
      reason: `probe guest entered long mode and ran ${PROBE_LOOPS} loop iterations under KVM in ${run.ms} ms`,
    };
  }
  if (run.timedOut)
    return { usable: false, reason: `KVM_RUN did not finish within ${timeoutMs / 1000} s (KVM hangs here)` };
  const why = run.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.includes('warning:'))[0];
  if (run.exitCode === -1 && !why)
    return { usable: false, reason: `could not run ${qemu} (is qemu-system-x86 installed?)` };
  return { usable: false, reason: `${qemu} -accel kvm exited with ${run.exitCode}${why ? `: ${why}` : ''}` };
}

// The CPU model name when it is one QEMU emulates (TCG's qemu64, kvm64), where nested KVM must not be trusted; else
// undefined.
export function emulatedCpuModel(cpuinfoPath: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(cpuinfoPath, 'utf8');
  } catch {
    return undefined;
  }
  const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim();
  return model && /^(QEMU Virtual CPU|Common KVM processor)/.test(model) ? model : undefined;
}
