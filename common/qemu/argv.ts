// The QEMU command line as a pure function of a spec: same spec, same argv, in the same order, every time.

// Firmware the machine starts with; `vars` is a writable copy of the NVRAM store (OVMF only).
export interface QemuFirmware {
  type: 'ovmf' | 'ovmf-secureboot' | 'seabios';
  code: string;
  vars?: string;
}

// One disk or medium; `bootIndex` orders it in the firmware's boot list.
export interface QemuDrive {
  file: string;
  format: 'raw' | 'qcow2';
  interface: 'virtio' | 'ide' | 'usb' | 'cdrom' | 'nvme';
  readonly?: boolean;
  snapshot?: boolean;
  bootIndex?: number;
}

// A NIC and its backend: a point-to-point link over unix datagram sockets (each end binds its own path and sends to the
// other's, so either end can restart without the other noticing), a tap device, or a user-mode network that reaches
// nothing (restrict=on) but its forwards: each TCP connection to `host:port` runs `argv` with the connection on its
// stdin and stdout.
export interface QemuNic {
  id: string;
  mac: string;
  backend: { dgram: { local: string; remote: string } } | { tap: string } | { restricted: RestrictedNet };
}

// A user-mode network that reaches nothing: QEMU's own address on it (`host`), the forwards in (each a TCP port of
// `forwardTo` whose connections run a command), and the forwards out (a TCP port on the host's loopback whose
// connections QEMU makes to a port of the guest).
export interface RestrictedNet {
  net: string;
  host: string;
  forwardTo?: string;
  forwards: Array<{ port: number; argv: string[] }>;
  hostForwards?: Array<{ hostAddress: string; hostPort: number; guestAddress: string; guestPort: number }>;
}

// Where the first serial port goes: QEMU's stdin/stdout, a file, or a unix socket QEMU listens on (with an optional log
// of all output).
export type QemuSerial = 'stdio' | { file: string } | { socket: string; logfile?: string };

// Everything that shapes one QEMU invocation.
export interface QemuSpec {
  machine: 'q35' | 'microvm' | 'pc';
  accel: 'kvm' | 'tcg';
  cpus: number;
  memoryMiB: number;
  // Guest RAM from an explicit backend: bound to a host NUMA node and/or on 2 MiB hugepages (absent: QEMU's default
  // RAM).
  memoryBackend?: { hostNode?: number; hugepages?: boolean };
  // Absent: `host` under KVM, QEMU's default model under TCG.
  cpu?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  firmware?: QemuFirmware;
  // How long the firmware's boot menu waits (SeaBIOS reads it from fw_cfg etc/boot-menu-wait); 0 turns the menu off.
  bootMenuWaitMs?: number;
  drives?: QemuDrive[];
  serial: QemuSerial;
  // Unix socket path for QMP (QEMU listens, does not wait for a client).
  qmp?: string;
  // Unix socket path behind a virtio-serial port named HEALTH_PORT_NAME (the guest writes its ready marker there).
  healthChannel?: string;
  // The host end of the VM's secrets channel (with a health channel only: the two share its virtio-serial bus).
  secretsChannel?: string;
  noReboot?: boolean;
  // The USB controller for `usb` drives (default xhci; ehci is the USB 2 stick of older machines).
  usb?: 'xhci' | 'ehci';
  // Network cards, in the guest's order (eth0 first).
  nics?: QemuNic[];
  // PCI devices of the host handed to the guest whole (VFIO), by address.
  vfio?: string[];
  // Files the guest reads from fw_cfg (/sys/firmware/qemu_fw_cfg/by_name/<name>/raw).
  fwCfg?: Array<{ name: string; file: string }>;
  // Raw arguments appended last, for what the spec does not cover yet.
  extra?: string[];
}

// Name of the virtio-serial port the guest reports health on (appears as /dev/virtio-ports/<name> and /dev/vportNp1).
export const HEALTH_PORT_NAME = 'org.mvos.health';
// Name of the port a guest asks the host vault for its own secrets on (the health port stays vport*p1: it comes first).
export const SECRETS_PORT_NAME = 'org.mvos.secrets';

// QEMU option values separate their properties with commas; a literal comma in a value is written twice.
function value(text: string): string {
  return text.replaceAll(',', ',,');
}

function check(spec: QemuSpec): void {
  if (!Number.isInteger(spec.cpus) || spec.cpus < 1)
    throw new Error(`qemuArgv: cpus must be a positive integer (got ${spec.cpus})`);
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 16)
    throw new Error(`qemuArgv: memoryMiB must be an integer ≥ 16 (got ${spec.memoryMiB})`);
  if (spec.initrd && !spec.kernel) throw new Error('qemuArgv: an initrd needs a kernel');
  if (spec.append && !spec.kernel) throw new Error('qemuArgv: a kernel command line needs a kernel');
  const readonlyDisk = (spec.drives ?? []).find((d) => d.interface === 'ide' && d.readonly);
  if (readonlyDisk)
    throw new Error(
      `qemuArgv: QEMU's IDE disks cannot be read-only (${readonlyDisk.file}); use snapshot, a cdrom or virtio`,
    );
  if (spec.machine === 'microvm') {
    const bad = (spec.drives ?? []).find((d) => d.interface !== 'virtio');
    if (bad) throw new Error(`qemuArgv: microvm has only virtio-mmio devices, not ${bad.interface} (${bad.file})`);
    if (spec.firmware && spec.firmware.type !== 'seabios')
      throw new Error('qemuArgv: microvm has no flash for OVMF; use seabios or direct kernel boot');
  }
  for (const nic of spec.nics ?? []) {
    if (!/^[a-z][a-z0-9-]*$/.test(nic.id)) throw new Error(`qemuArgv: NIC id ${nic.id} is not a QEMU id`);
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(nic.mac)) throw new Error(`qemuArgv: ${nic.mac} is not a MAC`);
  }
  if (spec.machine === 'microvm' && (spec.vfio?.length ?? 0) > 0)
    throw new Error('qemuArgv: microvm has no PCI bus for VFIO devices');
  const wait = spec.bootMenuWaitMs;
  if (wait !== undefined && (!Number.isInteger(wait) || wait < 0 || wait > 0xffff))
    throw new Error(`qemuArgv: bootMenuWaitMs must be an integer from 0 to 65535 (got ${wait})`);
  if (spec.firmware?.type === 'ovmf-secureboot' && spec.machine !== 'q35')
    throw new Error('qemuArgv: Secure Boot OVMF needs SMM, which needs machine q35');
}

function machineArgs(spec: QemuSpec): string[] {
  const smm = spec.firmware?.type === 'ovmf-secureboot' ? ',smm=on' : '';
  const cpu = spec.cpu ?? (spec.accel === 'kvm' ? 'host' : undefined);
  return [
    '-nodefaults',
    '-no-user-config',
    '-machine',
    `${spec.machine}${smm}${spec.memoryBackend ? `,memory-backend=${MEMORY_BACKEND_ID}` : ''}`,
    '-accel',
    accelArg(spec),
    ...(cpu ? ['-cpu', cpu] : []),
    '-smp',
    String(spec.cpus),
    '-m',
    String(spec.memoryMiB),
    ...memoryArgs(spec),
    '-display',
    'none',
    ...(spec.noReboot ? ['-no-reboot'] : []),
  ];
}

const MEMORY_BACKEND_ID = 'mvos-ram';

// TCG runs a guest of several vCPUs in one thread. With a thread per vCPU, a vCPU can still run code that another just
// rewrote: Linux patches static branches through a temporary int3 (text_poke_bp), and Debian 13's kernel died of an
// `Oops: int3` at "sched_clock: Marking stable" in about one boot in ten under QEMU 7.2's multi-threaded TCG.
function accelArg(spec: QemuSpec): string {
  return spec.accel === 'tcg' && spec.cpus > 1 ? 'tcg,thread=single' : spec.accel;
}

// memfd with hugetlb for hugepages (no hugetlbfs mount needed), plain RAM otherwise; host-nodes + bind keeps it on the
// node.
function memoryArgs(spec: QemuSpec): string[] {
  const backend = spec.memoryBackend;
  if (!backend) return [];
  const kind = backend.hugepages ? 'memory-backend-memfd' : 'memory-backend-ram';
  const huge = backend.hugepages ? ',hugetlb=on,hugetlbsize=2M,prealloc=on' : '';
  const bind = backend.hostNode !== undefined ? `,host-nodes=${backend.hostNode},policy=bind` : '';
  return ['-object', `${kind},id=${MEMORY_BACKEND_ID},size=${spec.memoryMiB}M${huge}${bind}`];
}

function firmwareArgs(firmware: QemuFirmware | undefined): string[] {
  if (!firmware) return [];
  if (firmware.type === 'seabios') return ['-bios', firmware.code];
  const args = ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${value(firmware.code)}`];
  if (firmware.vars) args.push('-drive', `if=pflash,format=raw,unit=1,file=${value(firmware.vars)}`);
  // Debian's secboot OVMF is built with SMM_REQUIRE: its flash must only be writable from SMM.
  if (firmware.type === 'ovmf-secureboot') args.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
  return args;
}

// QEMU puts splash-time into fw_cfg as etc/boot-menu-wait (a little-endian u16, which -fw_cfg string= cannot write).
function bootMenuArgs(ms: number | undefined): string[] {
  if (ms === undefined) return [];
  return ['-boot', ms === 0 ? 'menu=off' : `menu=on,splash-time=${ms}`];
}

function bootArgs(spec: QemuSpec): string[] {
  return [
    ...bootMenuArgs(spec.bootMenuWaitMs),
    ...(spec.kernel ? ['-kernel', spec.kernel] : []),
    ...(spec.initrd ? ['-initrd', spec.initrd] : []),
    ...(spec.append ? ['-append', spec.append] : []),
  ];
}

// q35's AHCI has six ports of one unit each; pc's PIIX has two channels of two units. QEMU does not place them itself.
function ideSlot(machine: QemuSpec['machine'], index: number): string {
  const slots = machine === 'q35' ? 6 : 4;
  if (index >= slots) throw new Error(`qemuArgv: ${machine} has room for ${slots} IDE/CD drives`);
  return machine === 'q35' ? `bus=ide.${index}` : `bus=ide.${index >> 1},unit=${index & 1}`;
}

function driveArgs(spec: QemuSpec): string[] {
  const drives = spec.drives ?? [];
  const args: string[] = [];
  const usb = spec.usb ?? 'xhci';
  if (drives.some((d) => d.interface === 'usb'))
    args.push('-device', usb === 'xhci' ? 'qemu-xhci,id=xhci' : 'usb-ehci,id=ehci');
  let ide = 0;
  drives.forEach((drive, index) => {
    const id = `drive${index}`;
    const props = [`file=${value(drive.file)}`, `format=${drive.format}`, 'if=none', `id=${id}`];
    if (drive.interface === 'cdrom') props.push('media=cdrom');
    if (drive.readonly || drive.interface === 'cdrom') props.push('readonly=on');
    if (drive.snapshot) props.push('snapshot=on');
    const boot = drive.bootIndex !== undefined ? `,bootindex=${drive.bootIndex}` : '';
    const device = {
      virtio: spec.machine === 'microvm' ? 'virtio-blk-device' : 'virtio-blk-pci',
      ide: `ide-hd,${ideSlot(spec.machine, ide)}`,
      cdrom: `ide-cd,${ideSlot(spec.machine, ide)}`,
      usb: `usb-storage,bus=${usb}.0`,
      // An NVMe controller of its own per drive; the serial number is required, the drive's index keeps it stable.
      nvme: `nvme,serial=mvos-nvme${index}`,
    }[drive.interface];
    if (drive.interface === 'ide' || drive.interface === 'cdrom') ide++;
    args.push('-drive', props.join(','), '-device', `${device},drive=${id}${boot}`);
  });
  return args;
}

function serialArgs(serial: QemuSerial): string[] {
  if (serial === 'stdio') return ['-serial', 'stdio'];
  if ('file' in serial) return ['-serial', `file:${serial.file}`];
  // logappend=on opens the log O_APPEND: once the agent truncates it, QEMU's next byte lands at its start, not past a
  // hole.
  const log = serial.logfile ? `,logfile=${value(serial.logfile)},logappend=on` : '';
  return [
    '-chardev',
    `socket,id=serial0,path=${value(serial.socket)},server=on,wait=off${log}`,
    '-serial',
    'chardev:serial0',
  ];
}

function channelArgs(spec: QemuSpec): string[] {
  const args: string[] = [];
  if (spec.qmp) args.push('-qmp', `unix:${value(spec.qmp)},server=on,wait=off`);
  if (spec.healthChannel) {
    args.push(
      '-device',
      `${spec.machine === 'microvm' ? 'virtio-serial-device' : 'virtio-serial-pci'},id=vser0`,
      '-chardev',
      `socket,id=health,path=${value(spec.healthChannel)},server=on,wait=off`,
      '-device',
      `virtserialport,bus=vser0.0,chardev=health,name=${HEALTH_PORT_NAME}`,
    );
    if (spec.secretsChannel)
      args.push(
        '-chardev',
        `socket,id=secrets,path=${value(spec.secretsChannel)},server=on,wait=off`,
        '-device',
        `virtserialport,bus=vser0.0,chardev=secrets,name=${SECRETS_PORT_NAME}`,
      );
  }
  return args;
}

// A user-mode network with no way out: no IPv6, only the forwards. libslirp splits a forward's command like a shell
// (g_shell_parse_argv) but runs no shell: each argument is single-quoted.
function restrictedNetdev(id: string, net: RestrictedNet): string {
  const quote = (arg: string) => {
    if (/['\n\0]/.test(arg)) throw new Error(`qemuArgv: a forward's argument cannot hold a quote or newline: ${arg}`);
    return `'${arg}'`;
  };
  if (net.forwards.length > 0 && !net.forwardTo) throw new Error('qemuArgv: forwards in need a forwardTo address');
  const forwards = net.forwards.map(
    (f) => `,guestfwd=tcp:${net.forwardTo}:${f.port}-cmd:${value(f.argv.map(quote).join(' '))}`,
  );
  // Loopback only: nothing but the host's own programs may use a way out.
  const out = (net.hostForwards ?? []).map((f) => {
    if (!/^127\.\d+\.\d+\.\d+$/.test(f.hostAddress))
      throw new Error(`qemuArgv: a forward out listens on loopback only, not ${f.hostAddress}`);
    return `,hostfwd=tcp:${f.hostAddress}:${f.hostPort}-${f.guestAddress}:${f.guestPort}`;
  });
  return `user,id=${id},restrict=on,ipv6=off,net=${net.net},host=${net.host}${forwards.join('')}${out.join('')}`;
}

function nicArgs(spec: QemuSpec): string[] {
  const args: string[] = [];
  for (const nic of spec.nics ?? []) {
    const backend =
      'tap' in nic.backend
        ? `tap,id=${nic.id},ifname=${value(nic.backend.tap)},script=no,downscript=no`
        : 'restricted' in nic.backend
          ? restrictedNetdev(nic.id, nic.backend.restricted)
          : `dgram,id=${nic.id},local.type=unix,local.path=${value(nic.backend.dgram.local)},remote.type=unix,remote.path=${value(nic.backend.dgram.remote)}`;
    // No option ROM: the guests boot from their kernel, never from the network.
    const device =
      spec.machine === 'microvm'
        ? `virtio-net-device,netdev=${nic.id},mac=${nic.mac}`
        : `virtio-net-pci,netdev=${nic.id},mac=${nic.mac},romfile=`;
    args.push('-netdev', backend, '-device', device);
  }
  for (const host of spec.vfio ?? []) args.push('-device', `vfio-pci,host=${host}`);
  for (const file of spec.fwCfg ?? []) args.push('-fw_cfg', `name=${value(file.name)},file=${value(file.file)}`);
  return args;
}

// The full argument list (without the program name) for qemu-system-x86_64; throws on a spec QEMU would refuse.
export function qemuArgv(spec: QemuSpec): string[] {
  check(spec);
  return [
    ...machineArgs(spec),
    ...firmwareArgs(spec.firmware),
    ...bootArgs(spec),
    ...driveArgs(spec),
    ...serialArgs(spec.serial),
    ...channelArgs(spec),
    ...nicArgs(spec),
    ...(spec.extra ?? []),
  ];
}
