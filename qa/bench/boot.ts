// Boot to agent ready under TCG beside the busybox-only baseline with the same kernel, and the floors between them: the
// kernel unpacking the host's whole initrd, then the image's Node starting as init, so the agent's ratio can be read
// against what any agent on Node would pay.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootToMarker } from '../lib/boot.ts';
import { makeBusyboxInitramfs } from '../lib/busybox-initramfs.ts';
import type { HostImage } from '../lib/host-image.ts';
import { type BenchRow, median } from './agent.ts';

// The rows, each the median of `runs` boots; `work` is a scratch folder.
export async function bootRows(image: HostImage, runs: number, work: string): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const baselineInitrd = join(work, 'baseline.gz');
  writeFileSync(baselineInitrd, await makeBusyboxInitramfs({ marker: 'MVOS-BASELINE-READY', poweroff: true }));
  const host: number[] = [];
  const base: number[] = [];
  // The markers are spelled so that the kernel's echo of its command line does not already hold them, and init stays
  // after printing: an init that exits panics the kernel, which can lose what the UART had not sent yet.
  const floors = {
    unpack: {
      cmdline:
        'rdinit=/usr/bin/busybox -- sh -c "printf MVOS-UNPACKED-\\\\122EADY\\\\n; exec /usr/bin/busybox sleep 60"',
      marker: 'MVOS-UNPACKED-READY',
      s: [] as number[],
    },
    node: {
      cmdline: `rdinit=/usr/bin/node -- -e "console.log('MVOS-NODE'+'-READY'); setTimeout(() => {}, 60000)"`,
      marker: 'MVOS-NODE-READY',
      s: [] as number[],
    },
  };
  for (let i = 0; i < runs; i++) {
    for (const [name, floor] of Object.entries(floors)) {
      const f = await bootToMarker({
        name: `bench-floor-${name}`,
        kernel: image.kernel,
        initrd: image.initrd,
        append: `${image.cmdline} ${floor.cmdline}`,
        marker: floor.marker,
        timeoutS: 300,
        memoryMiB: 2048,
        cpus: 2,
      });
      floor.s.push(f.ms / 1000);
    }
    const b = await bootToMarker({
      name: 'bench-baseline',
      kernel: image.kernel,
      initrd: baselineInitrd,
      append: `${image.cmdline}`,
      marker: 'MVOS-BASELINE-READY',
      timeoutS: 300,
      memoryMiB: 2048,
      cpus: 2,
    });
    base.push(b.ms / 1000);
    const h = await bootToMarker({
      name: 'bench-host',
      kernel: image.kernel,
      initrd: image.initrd,
      append: `${image.cmdline} mvos.state.wait=0`,
      marker: 'MVOS-AGENT-READY',
      timeoutS: 300,
      memoryMiB: 2048,
      cpus: 2,
    });
    host.push(h.ms / 1000);
  }
  const h = median(host);
  const b = median(base);
  rows.push({
    metric: `boot to agent ready (TCG, median of ${runs})`,
    value: h,
    unit: 's',
    baseline: b,
    ratio: h / b,
    note: 'baseline: same kernel, busybox-only initramfs printing a marker',
  });
  rows.push({
    metric: `boot floor: the host initrd unpacked, busybox prints (TCG, median of ${runs})`,
    value: median(floors.unpack.s),
    unit: 's',
    baseline: b,
    ratio: median(floors.unpack.s) / b,
    note: 'what unpacking the whole initrd costs before any init runs',
  });
  rows.push({
    metric: `boot floor: the host initrd, its node -e prints (TCG, median of ${runs})`,
    value: median(floors.node.s),
    unit: 's',
    baseline: b,
    ratio: median(floors.node.s) / b,
    note: "the least any agent on the image's Node can take: unpack plus Node's own start",
  });
  return rows;
}
