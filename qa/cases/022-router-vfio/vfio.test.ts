// The bare-metal network path, booted: the host image in QEMU with an emulated Intel IOMMU and an emulated NIC
// (e1000e at 0000:00:05.0) on a tap in a namespace the test makes. The host binds the NIC to vfio-pci and passes it to
// its router VM, which drives it with its own driver; an application VM beside it fetches a page from the test's
// "internet" through it. Nested TCG: slow (SLOW).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { qemuArgv } from '../../../common/qemu/argv.ts';
import { ARTIFACTS } from '../../lib/boot.ts';
import { buildHostImage } from '../../lib/host-image.ts';
import { INTERNET_NAME, INTERNET_PAGE, Internet } from '../../lib/internet.ts';

const NETNS = 'mvn-inet';
const NIC_MAC = '02:00:00:00:05:05';
const ROUTER_UPLINK = '203.0.113.2';
const NESTED_MS = 1_500_000;
const dir = join(ARTIFACTS, '022-router-vfio');
let internet: Internet | undefined;
let qemu: ChildProcess | undefined;
let output = '';

function waitFor(pattern: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = (): void => {
      const found = pattern.exec(output);
      const failed = /mvos-agent: (router|web): failed: .*/.exec(output);
      if (found) resolve(found);
      else if (failed) reject(new Error(`${failed[0]}\n(serial log: ${dir}/serial.log)`));
      else if (Date.now() - started > timeoutMs || qemu?.exitCode !== null)
        reject(new Error(`no ${what} within ${timeoutMs / 1000} s (serial log: ${dir}/serial.log)`));
      else setTimeout(check, 500);
    };
    check();
  });
}

test.after(async () => {
  qemu?.kill('SIGKILL');
  await writeFile(join(dir, 'serial.log'), output).catch(() => undefined);
  await internet?.stop();
});

test('the host passes its NIC to the router through VFIO, and an application VM reaches the test server through it', async () => {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const image = buildHostImage('qa/cases/022-router-vfio/host-vfio.yaml', { output: join(ARTIFACTS, '022-images') });
  internet = await Internet.start({
    netns: NETNS,
    dir,
    taps: [
      {
        name: 'mvnest0',
        address: '203.0.113.1',
        range: ['203.0.113.10', '203.0.113.20'],
        hosts: [{ mac: NIC_MAC, address: ROUTER_UPLINK }],
      },
    ],
    capture: true,
  });
  // The host's QEMU runs in the test's namespace (its tap is there); inside, the router's QEMU gets the NIC by VFIO.
  const argv = qemuArgv({
    machine: 'q35',
    accel: 'tcg',
    cpus: 2,
    memoryMiB: 2048,
    kernel: image.kernel,
    initrd: image.initrd,
    append: `${image.cmdline} mvos.state.wait=0 mvos.shell=1`,
    serial: 'stdio',
    // The IOMMU before any PCI device; the NIC at a fixed address, the one the recipe's uplink names.
    extra: [
      '-device',
      'intel-iommu,intremap=on,caching-mode=on',
      '-netdev',
      'tap,id=up,ifname=mvnest0,script=no,downscript=no',
      '-device',
      `e1000e,netdev=up,mac=${NIC_MAC},bus=pcie.0,addr=0x5`,
    ],
  });
  qemu = spawn('ip', ['netns', 'exec', NETNS, 'qemu-system-x86_64', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  qemu.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  qemu.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const started = Date.now();
  await waitFor(/mvos-agent: router: ready.*/, NESTED_MS, 'router ready');
  await waitFor(/mvos-agent: web: ready.*/, NESTED_MS, 'web ready');
  console.log(`  router and web ready ${((Date.now() - started) / 1000).toFixed(0)} s after the host's QEMU started`);
  // From the host's console shell, type into web's serial console (the agent reads its log, not the socket).
  const script =
    'const s=require("net").connect("/var/lib/mvos/vms/web/console.sock",()=>s.write(' +
    `"for i in $(seq 90); do wget -q -T 10 -O - http://${INTERNET_NAME}/ && break; sleep 2; done\\n"));` +
    's.on("data",(d)=>process.stdout.write(d));setTimeout(()=>process.exit(0),240000)';
  // The router's own console first, kept in this test's serial log for when something below fails.
  qemu.stdin!.write('\ncat /var/lib/mvos/vms/router/serial.log\n');
  qemu.stdin!.write(`node -e '${script}'\n`);
  await waitFor(new RegExp(INTERNET_PAGE), 300_000, 'the page from web');
  // The host loads no e1000e driver: frames from the NIC's MAC are the router's own driver at work.
  assert.ok(internet.captured(`ether src ${NIC_MAC} and udp dst port 67`) > 0, "the router's DHCP went out the NIC");
  assert.ok(
    internet.captured(`src host ${ROUTER_UPLINK} and tcp dst port 80`) > 0,
    'the fetch came through the router',
  );
});

test.run();
