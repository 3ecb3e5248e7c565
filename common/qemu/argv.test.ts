import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type QemuSpec, qemuArgv } from './argv.ts';

const base: QemuSpec = { machine: 'q35', accel: 'tcg', cpus: 2, memoryMiB: 512, serial: 'stdio' };
const head = [
  '-nodefaults',
  '-no-user-config',
  '-machine',
  'q35',
  '-accel',
  'tcg,thread=single',
  '-smp',
  '2',
  '-m',
  '512',
  '-display',
  'none',
];

test('TCG runs several vCPUs in one thread (cross-modified code), one vCPU and KVM as they are', () => {
  assert.equal(qemuArgv(base).slice(4, 6), ['-accel', 'tcg,thread=single']);
  assert.equal(qemuArgv({ ...base, cpus: 1 }).slice(4, 6), ['-accel', 'tcg']);
  assert.equal(qemuArgv({ ...base, accel: 'kvm' }).slice(4, 6), ['-accel', 'kvm']);
});

test('direct kernel boot under TCG on q35', () => {
  const argv = qemuArgv({
    ...base,
    kernel: '/img/vmlinuz',
    initrd: '/img/initrd',
    append: 'console=ttyS0 quiet',
    noReboot: true,
  });
  assert.equal(argv, [
    ...head,
    '-no-reboot',
    '-kernel',
    '/img/vmlinuz',
    '-initrd',
    '/img/initrd',
    '-append',
    'console=ttyS0 quiet',
    '-serial',
    'stdio',
  ]);
});

test('KVM gets the host CPU model; an explicit cpu wins', () => {
  assert.equal(qemuArgv({ ...base, accel: 'kvm' }).slice(4, 8), ['-accel', 'kvm', '-cpu', 'host']);
  assert.equal(qemuArgv({ ...base, cpu: 'max' }).slice(4, 8), ['-accel', 'tcg,thread=single', '-cpu', 'max']);
});

test('OVMF with a varstore, disks of every interface, QMP, the health and secrets channels and extra args, in a fixed order', () => {
  const argv = qemuArgv({
    ...base,
    firmware: { type: 'ovmf', code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/tmp/run,1/vars.fd' },
    drives: [
      { file: '/img/host.iso', format: 'raw', interface: 'cdrom', bootIndex: 0 },
      { file: '/img/disk.qcow2', format: 'qcow2', interface: 'virtio', snapshot: true },
      { file: '/img/usb.img', format: 'raw', interface: 'usb', readonly: true },
      { file: '/img/old.img', format: 'raw', interface: 'ide' },
      { file: '/img/fast.img', format: 'raw', interface: 'nvme', bootIndex: 1 },
    ],
    serial: { file: '/tmp/serial.log' },
    qmp: '/tmp/qmp.sock',
    healthChannel: '/tmp/health.sock',
    secretsChannel: '/tmp/secrets.sock',
    extra: ['-device', 'virtio-rng-pci'],
  });
  assert.equal(argv, [
    ...head,
    '-drive',
    'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
    '-drive',
    'if=pflash,format=raw,unit=1,file=/tmp/run,,1/vars.fd',
    '-device',
    'qemu-xhci,id=xhci',
    '-drive',
    'file=/img/host.iso,format=raw,if=none,id=drive0,media=cdrom,readonly=on',
    '-device',
    'ide-cd,bus=ide.0,drive=drive0,bootindex=0',
    '-drive',
    'file=/img/disk.qcow2,format=qcow2,if=none,id=drive1,snapshot=on',
    '-device',
    'virtio-blk-pci,drive=drive1',
    '-drive',
    'file=/img/usb.img,format=raw,if=none,id=drive2,readonly=on',
    '-device',
    'usb-storage,bus=xhci.0,drive=drive2',
    '-drive',
    'file=/img/old.img,format=raw,if=none,id=drive3',
    '-device',
    'ide-hd,bus=ide.1,drive=drive3',
    '-drive',
    'file=/img/fast.img,format=raw,if=none,id=drive4',
    '-device',
    'nvme,serial=mvos-nvme4,drive=drive4,bootindex=1',
    '-serial',
    'file:/tmp/serial.log',
    '-qmp',
    'unix:/tmp/qmp.sock,server=on,wait=off',
    '-device',
    'virtio-serial-pci,id=vser0',
    '-chardev',
    'socket,id=health,path=/tmp/health.sock,server=on,wait=off',
    '-device',
    'virtserialport,bus=vser0.0,chardev=health,name=org.mvos.health',
    '-chardev',
    'socket,id=secrets,path=/tmp/secrets.sock,server=on,wait=off',
    '-device',
    'virtserialport,bus=vser0.0,chardev=secrets,name=org.mvos.secrets',
    '-device',
    'virtio-rng-pci',
  ]);
});

test('Secure Boot OVMF turns on SMM and secure flash', () => {
  const argv = qemuArgv({ ...base, firmware: { type: 'ovmf-secureboot', code: '/c.fd', vars: '/v.fd' } });
  assert.equal(argv.slice(2, 4), ['-machine', 'q35,smm=on']);
  assert.equal(argv.slice(12), [
    '-drive',
    'if=pflash,format=raw,unit=0,readonly=on,file=/c.fd',
    '-drive',
    'if=pflash,format=raw,unit=1,file=/v.fd',
    '-global',
    'driver=cfi.pflash01,property=secure,value=on',
    '-serial',
    'stdio',
  ]);
});

test('SeaBIOS on pc with the serial console on a socket', () => {
  const argv = qemuArgv({
    ...base,
    machine: 'pc',
    cpus: 1,
    memoryMiB: 64,
    firmware: { type: 'seabios', code: '/usr/share/seabios/bios.bin' },
    serial: { socket: '/run/vm/serial.sock' },
  });
  assert.equal(argv, [
    '-nodefaults',
    '-no-user-config',
    '-machine',
    'pc',
    '-accel',
    'tcg',
    '-smp',
    '1',
    '-m',
    '64',
    '-display',
    'none',
    '-bios',
    '/usr/share/seabios/bios.bin',
    '-chardev',
    'socket,id=serial0,path=/run/vm/serial.sock,server=on,wait=off',
    '-serial',
    'chardev:serial0',
  ]);
});

test('a serial socket with a log: the log is opened for appending, so the agent can empty it while QEMU runs', () => {
  const argv = qemuArgv({ ...base, serial: { socket: '/run/vm/console.sock', logfile: '/run/vm,1/serial.log' } });
  assert.equal(argv.slice(-4), [
    '-chardev',
    'socket,id=serial0,path=/run/vm/console.sock,server=on,wait=off,logfile=/run/vm,,1/serial.log,logappend=on',
    '-serial',
    'chardev:serial0',
  ]);
});

test('SeaBIOS boot order from bootindex and the boot menu wait through -boot splash-time; 0 turns the menu off', () => {
  const drives: QemuSpec['drives'] = [
    { file: '/a.img', format: 'raw', interface: 'ide', snapshot: true, bootIndex: 1 },
    { file: '/b.img', format: 'raw', interface: 'ide', snapshot: true, bootIndex: 0 },
  ];
  const argv = qemuArgv({
    ...base,
    machine: 'pc',
    firmware: { type: 'seabios', code: '/bios.bin' },
    bootMenuWaitMs: 2500,
    drives,
  });
  assert.equal(argv.slice(12), [
    '-bios',
    '/bios.bin',
    '-boot',
    'menu=on,splash-time=2500',
    '-drive',
    'file=/a.img,format=raw,if=none,id=drive0,snapshot=on',
    '-device',
    'ide-hd,bus=ide.0,unit=0,drive=drive0,bootindex=1',
    '-drive',
    'file=/b.img,format=raw,if=none,id=drive1,snapshot=on',
    '-device',
    'ide-hd,bus=ide.0,unit=1,drive=drive1,bootindex=0',
    '-serial',
    'stdio',
  ]);
  assert.equal(qemuArgv({ ...base, bootMenuWaitMs: 0 }).slice(12, 14), ['-boot', 'menu=off']);
  assert.not.ok(qemuArgv(base).includes('-boot'), 'no wait given: QEMU and the firmware keep their defaults');
  assert.throws(
    () => qemuArgv({ ...base, bootMenuWaitMs: 70000 }),
    /bootMenuWaitMs must be an integer from 0 to 65535/,
  );
  assert.throws(() => qemuArgv({ ...base, bootMenuWaitMs: -1 }), /bootMenuWaitMs/);
});

test('microvm uses virtio-mmio devices', () => {
  const argv = qemuArgv({
    ...base,
    machine: 'microvm',
    kernel: '/k',
    drives: [{ file: '/d.img', format: 'raw', interface: 'virtio' }],
    healthChannel: '/h.sock',
  });
  assert.ok(argv.includes('virtio-blk-device,drive=drive0'), argv.join(' '));
  assert.ok(argv.includes('virtio-serial-device,id=vser0'), argv.join(' '));
});

test('IDE drives get their own port on q35 and master/slave slots on pc', () => {
  const drives: QemuSpec['drives'] = [0, 1, 2].map((n) => ({
    file: `/d${n}`,
    format: 'raw',
    interface: n === 1 ? 'cdrom' : 'ide',
  }));
  const devices = (machine: QemuSpec['machine']): string[] =>
    qemuArgv({ ...base, machine, drives }).filter((a) => a.startsWith('ide-'));
  assert.equal(devices('q35'), [
    'ide-hd,bus=ide.0,drive=drive0',
    'ide-cd,bus=ide.1,drive=drive1',
    'ide-hd,bus=ide.2,drive=drive2',
  ]);
  assert.equal(devices('pc'), [
    'ide-hd,bus=ide.0,unit=0,drive=drive0',
    'ide-cd,bus=ide.0,unit=1,drive=drive1',
    'ide-hd,bus=ide.1,unit=0,drive=drive2',
  ]);
});

test('the same spec gives the same argv', () => {
  const spec: QemuSpec = {
    ...base,
    kernel: '/k',
    drives: [{ file: '/a', format: 'raw', interface: 'virtio' }],
    qmp: '/q',
  };
  assert.equal(qemuArgv(spec), qemuArgv(structuredClone(spec)));
});

test('specs QEMU would refuse are refused with the reason', () => {
  assert.throws(() => qemuArgv({ ...base, cpus: 0 }), /cpus must be a positive integer/);
  assert.throws(
    () => qemuArgv({ ...base, drives: [{ file: '/x', format: 'raw', interface: 'ide', readonly: true }] }),
    /IDE disks cannot be read-only/,
  );
  assert.throws(() => qemuArgv({ ...base, memoryMiB: 8 }), /memoryMiB/);
  assert.throws(() => qemuArgv({ ...base, initrd: '/i' }), /an initrd needs a kernel/);
  assert.throws(
    () => qemuArgv({ ...base, machine: 'microvm', drives: [{ file: '/x', format: 'raw', interface: 'ide' }] }),
    /microvm has only virtio-mmio/,
  );
  assert.throws(
    () => qemuArgv({ ...base, machine: 'pc', firmware: { type: 'ovmf-secureboot', code: '/c' } }),
    /needs machine q35/,
  );
});

test('usb drives can sit on an EHCI controller', () => {
  const argv = qemuArgv({
    machine: 'q35',
    accel: 'tcg',
    cpus: 1,
    memoryMiB: 256,
    serial: 'stdio',
    usb: 'ehci',
    drives: [{ file: '/x.iso', format: 'raw', interface: 'usb', snapshot: true, bootIndex: 0 }],
  });
  assert.ok(
    argv
      .join(' ')
      .includes(
        '-device usb-ehci,id=ehci -drive file=/x.iso,format=raw,if=none,id=drive0,snapshot=on -device ' +
          'usb-storage,bus=ehci.0,drive=drive0,bootindex=0',
      ),
  );
});

test('NICs: unix datagram links and a tap, virtio-net-pci without option ROM on q35, -device on microvm; VFIO; fw_cfg', () => {
  const nics: QemuSpec['nics'] = [
    { id: 'net0', mac: '02:00:00:00:00:01', backend: { dgram: { local: '/s/a,b.sock', remote: '/s/r.sock' } } },
    { id: 'uplink', mac: '02:00:00:00:00:02', backend: { tap: 'mvup0' } },
  ];
  const argv = qemuArgv({
    ...base,
    nics,
    vfio: ['0000:03:00.0'],
    fwCfg: [{ name: 'opt/org.mvos/links', file: '/s/links' }],
  });
  const tail = argv.slice(argv.indexOf('-netdev'));
  assert.equal(tail, [
    '-netdev',
    'dgram,id=net0,local.type=unix,local.path=/s/a,,b.sock,remote.type=unix,remote.path=/s/r.sock',
    '-device',
    'virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01,romfile=',
    '-netdev',
    'tap,id=uplink,ifname=mvup0,script=no,downscript=no',
    '-device',
    'virtio-net-pci,netdev=uplink,mac=02:00:00:00:00:02,romfile=',
    '-device',
    'vfio-pci,host=0000:03:00.0',
    '-fw_cfg',
    'name=opt/org.mvos/links,file=/s/links',
  ]);
  const micro = qemuArgv({ ...base, machine: 'microvm', nics: [nics[0]!] });
  assert.ok(micro.includes('virtio-net-device,netdev=net0,mac=02:00:00:00:00:01'));
  assert.throws(() => qemuArgv({ ...base, machine: 'microvm', vfio: ['0000:03:00.0'] }), /no PCI bus/);
  assert.throws(() => qemuArgv({ ...base, nics: [{ ...nics[0]!, mac: '02:00:00:00:00:01,romfile=/x' }] }), /not a MAC/);
  assert.throws(() => qemuArgv({ ...base, nics: [{ ...nics[0]!, id: 'a,b' }] }), /not a QEMU id/);
});

test.run();
