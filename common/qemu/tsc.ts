// The host's TSC rate, for small guests under TCG: there a guest reads the host's TSC, and a microvm has no HPET, no
// ACPI PM timer and no PIT gate to measure it against. Linux's one quick PIT measurement fails now and then on a busy
// host; the kernel then waits for a timer tick that nothing delivers, before its console prints a byte. Telling the
// kernel the rate (tsc_early_khz) skips the measurement.
import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';

// The TSC rate in kHz from the host kernel's log lines (its refined calibration wins over its first guess), else from
// /proc/cpuinfo when the CPU reports its TSC rate as known (cpu MHz is then the TSC rate, not a scaled clock).
export function parseTscKhz(kernelLog: readonly string[], cpuinfo: string): number | undefined {
  const fromLog = (pattern: RegExp): number | undefined => {
    const mhz = kernelLog
      .map((line) => pattern.exec(line)?.[1])
      .filter((m) => m !== undefined)
      .pop();
    return mhz ? Math.round(Number(mhz) * 1000) : undefined;
  };
  const logged =
    fromLog(/tsc: Refined TSC clocksource calibration: ([0-9.]+) MHz/) ?? fromLog(/tsc: Detected ([0-9.]+) MHz/);
  if (logged) return logged;
  const first = cpuinfo.split(/\n\n/)[0] ?? '';
  if (!/^flags\s*:.*\btsc_known_freq\b/m.test(first)) return undefined;
  const mhz = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(first)?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : undefined;
}

// The host kernel's log as records, read once without blocking (empty when it may not be read: no root, dmesg_restrict).
function readKernelLog(): string[] {
  let fd: number;
  try {
    fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  const records: string[] = [];
  const buffer = Buffer.alloc(8192);
  try {
    // Each read returns one record; EAGAIN says the end is reached, EPIPE that a record was overwritten meanwhile.
    for (let i = 0; i < 100_000; i++) {
      try {
        const n = readSync(fd, buffer, 0, buffer.length, null);
        records.push(buffer.toString('utf8', 0, n));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') continue;
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return records;
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

let cached: { khz: number | undefined } | undefined;

// This host's TSC rate in kHz, looked up once; undefined when neither the kernel log nor the CPU tells it.
export function hostTscKhz(): number | undefined {
  if (!cached) {
    cached = { khz: parseTscKhz(readKernelLog(), readCpuinfo()) };
  }
  return cached.khz;
}

// Kernel arguments that give a microvm guest under TCG the host's TSC rate; none under KVM (kvm-clock tells the guest)
// or when the rate is unknown. tsc=reliable keeps the clocksource watchdog from discarding the TSC on a busy host.
export function microvmClockArgs(accel: 'kvm' | 'tcg', tscKhz: number | undefined): string {
  if (accel !== 'tcg' || !tscKhz) return '';
  return `tsc_early_khz=${tscKhz} tsc=reliable`;
}
