// The host packages mvos needs, what each is for and how its presence is detected (paths checked with `dpkg -L` on
// Debian 12).

// How one piece of a package is found: an executable command on PATH, or a file at an absolute path.
export type Detection = { command: string } | { file: string };

// What needs a package: building images, building the small guest kernel from source, or only the QEMU boot checks of
// qa/.
export type ToolGroup = 'build' | 'kernel' | 'qa';

// One Debian package mvos relies on; it counts as present when every detection succeeds.
export interface ToolRequirement {
  package: string;
  purpose: string;
  group: ToolGroup;
  detect: readonly Detection[];
}

// Every host package the builder and the boot checks use, build tools first.
export const REQUIREMENTS: readonly ToolRequirement[] = [
  {
    package: 'dpkg',
    purpose: 'unpack .deb packages into the rootfs',
    group: 'build',
    detect: [{ command: 'dpkg-deb' }],
  },
  { package: 'apt', purpose: 'resolve and download pinned packages', group: 'build', detect: [{ command: 'apt-get' }] },
  { package: 'gpgv', purpose: 'verify signed apt repository metadata', group: 'build', detect: [{ command: 'gpgv' }] },
  // Debian 12's package carries the keys of Debian 13 too; the builder verifies each suite with that release's keys.
  {
    package: 'debian-archive-keyring',
    purpose: "verify the recipe's Debian suite (the builder's own apt sources name only that release's keys)",
    group: 'build',
    detect: [
      { file: '/usr/share/keyrings/debian-archive-trixie-stable.gpg' },
      { file: '/usr/share/keyrings/debian-archive-bookworm-stable.gpg' },
    ],
  },
  // busybox-static ships /bin/busybox only; some systems never put a `busybox` on PATH.
  {
    package: 'busybox-static',
    purpose: 'init and shell of initramfs and rescue images',
    group: 'build',
    detect: [{ file: '/bin/busybox' }],
  },
  { package: 'cpio', purpose: 'inspect initramfs archives', group: 'build', detect: [{ command: 'cpio' }] },
  { package: 'zstd', purpose: 'compress initramfs and images', group: 'build', detect: [{ command: 'zstd' }] },
  {
    package: 'xz-utils',
    purpose: 'unpack xz-compressed packages and kernel modules',
    group: 'build',
    detect: [{ command: 'xz' }],
  },
  {
    package: 'icu-devtools',
    purpose: "trim ICU's locale data in images (libraries.icuLocales)",
    group: 'build',
    detect: [{ command: 'icupkg' }, { command: 'genccode' }],
  },
  { package: 'binutils', purpose: 'link the trimmed ICU data library', group: 'build', detect: [{ command: 'ld' }] },
  {
    package: 'erofs-utils',
    purpose: 'build read-only EROFS root filesystems',
    group: 'build',
    detect: [{ command: 'mkfs.erofs' }],
  },
  {
    package: 'squashfs-tools',
    purpose: "pack a host's /usr image (initramfs.usrImage) and read it back",
    group: 'build',
    detect: [{ command: 'mksquashfs' }],
  },
  {
    package: 'dosfstools',
    purpose: 'format EFI system partitions',
    group: 'build',
    detect: [{ command: 'mkfs.vfat' }],
  },
  {
    package: 'mtools',
    purpose: 'fill FAT images without mounting them',
    group: 'build',
    detect: [{ command: 'mformat' }, { command: 'mcopy' }],
  },
  { package: 'xorriso', purpose: 'write hybrid ISO images', group: 'build', detect: [{ command: 'xorriso' }] },
  {
    package: 'grub-common',
    purpose: 'assemble GRUB core images',
    group: 'build',
    detect: [{ command: 'grub-mkimage' }],
  },
  {
    package: 'grub-pc-bin',
    purpose: 'GRUB modules for BIOS boot',
    group: 'build',
    detect: [{ file: '/usr/lib/grub/i386-pc/boot.img' }],
  },
  {
    package: 'grub-efi-amd64-bin',
    purpose: 'GRUB modules for UEFI boot',
    group: 'build',
    detect: [{ file: '/usr/lib/grub/x86_64-efi/kernel.img' }],
  },
  {
    package: 'systemd-boot-efi',
    purpose: 'EFI stub for unified kernel images',
    group: 'build',
    detect: [{ file: '/usr/lib/systemd/boot/efi/linuxx64.efi.stub' }],
  },
  {
    package: 'sbsigntool',
    purpose: 'sign EFI binaries for Secure Boot',
    group: 'build',
    detect: [{ command: 'sbsign' }],
  },
  {
    package: 'efitools',
    purpose: 'build Secure Boot key lists for NVRAM presets',
    group: 'build',
    detect: [{ command: 'cert-to-efi-sig-list' }],
  },
  { package: 'qemu-utils', purpose: 'write qcow2 images', group: 'build', detect: [{ command: 'qemu-img' }] },
  {
    package: 'kmod',
    purpose: 'index the kernel modules an image carries (depmod)',
    group: 'build',
    detect: [{ command: 'depmod' }],
  },
  // The set `make tinyconfig && make bzImage` of linux-source-6.1 needs on Debian 12 (perl comes with the essential
  // perl-base).
  { package: 'make', purpose: 'build the guest kernel from source', group: 'kernel', detect: [{ command: 'make' }] },
  { package: 'gcc', purpose: 'compile the guest kernel', group: 'kernel', detect: [{ command: 'gcc' }] },
  // gcc only recommends the C library headers, and doctor installs without recommends; Kbuild's host programs need
  // them.
  {
    package: 'libc6-dev',
    purpose: "C headers for the kernel build's host programs",
    group: 'kernel',
    detect: [{ file: '/usr/include/stdio.h' }],
  },
  { package: 'flex', purpose: 'generate the Kconfig lexer', group: 'kernel', detect: [{ command: 'flex' }] },
  { package: 'bison', purpose: 'generate the Kconfig parser', group: 'kernel', detect: [{ command: 'bison' }] },
  {
    package: 'bc',
    purpose: 'compute kernel time constants during the build',
    group: 'kernel',
    detect: [{ command: 'bc' }],
  },
  {
    package: 'libelf-dev',
    purpose: 'build objtool, which every x86-64 kernel build runs',
    group: 'kernel',
    detect: [{ file: '/usr/include/gelf.h' }],
  },
  {
    package: 'qemu-system-x86',
    purpose: 'run the boot checks',
    group: 'qa',
    detect: [{ command: 'qemu-system-x86_64' }],
  },
  {
    package: 'ovmf',
    purpose: 'UEFI firmware for the boot checks',
    group: 'qa',
    detect: [{ file: '/usr/share/OVMF/OVMF_CODE_4M.fd' }, { file: '/usr/share/OVMF/OVMF_VARS_4M.fd' }],
  },
  {
    package: 'seabios',
    purpose: 'BIOS firmware for the boot checks and the KVM probe',
    group: 'qa',
    detect: [{ file: '/usr/share/seabios/bios-256k.bin' }],
  },
  {
    package: 'gdisk',
    purpose: 'verify the GPT of raw disk images (sgdisk -v)',
    group: 'qa',
    detect: [{ command: 'sgdisk' }],
  },
  {
    package: 'fdisk',
    purpose: 'list the partitions of raw disk images (sfdisk -d)',
    group: 'qa',
    detect: [{ command: 'sfdisk' }],
  },
  {
    package: 'openssh-client',
    purpose: 'log in to booted images in the boot checks',
    group: 'qa',
    detect: [{ command: 'ssh' }],
  },
  {
    package: 'chromium',
    purpose: 'drive the WebUI in its browser test (playwright-core, no browser download)',
    group: 'qa',
    detect: [{ file: '/usr/bin/chromium' }],
  },
  {
    package: 'openssl',
    purpose: 'make a throwaway TLS certificate for the API test',
    group: 'qa',
    detect: [{ command: 'openssl' }],
  },
  {
    package: 'curl',
    purpose: 'log in to the API over TLS with --cacert, as a user would',
    group: 'qa',
    detect: [{ command: 'curl' }],
  },
  {
    package: 'nftables',
    purpose: 'check the compiled firewall rulesets (nft --check) in a network namespace of the test',
    group: 'qa',
    detect: [{ command: 'nft' }],
  },
  {
    package: 'dnsmasq-base',
    purpose: 'serve DHCP and DNS on the network test\'s "internet" (a namespace with a tap)',
    group: 'qa',
    detect: [{ command: 'dnsmasq' }],
  },
  {
    package: 'tcpdump',
    purpose: "capture on the network test's uplink: proof of what crossed it and what did not",
    group: 'qa',
    detect: [{ command: 'tcpdump' }],
  },
  {
    package: 'tor',
    purpose: "run the Tor lab's private network (qa/lib/tor-lab.ts): authorities, relays, clients and onion services",
    group: 'qa',
    detect: [{ command: 'tor' }],
  },
  {
    package: 'e2fsprogs',
    purpose: "format the state partition the update scenarios' hosts boot with (mkfs.ext4; qa/lib/update-lab.ts)",
    group: 'qa',
    detect: [{ command: 'mkfs.ext4' }],
  },
  {
    package: 'minisign',
    purpose: "check update bundles' signatures with a tool we did not write (common/update, mvos update)",
    group: 'qa',
    detect: [{ command: 'minisign' }],
  },
  {
    package: 'age',
    purpose: "encrypt a share to its custodian's age or SSH key (mvos keys split --to), and open it in the tests",
    group: 'qa',
    detect: [{ command: 'age' }],
  },
  {
    package: 'oathtool',
    purpose: "check the vault's one-time codes against a tool we did not write (common/vault)",
    group: 'qa',
    detect: [{ command: 'oathtool' }],
  },
  {
    package: 'zbar-tools',
    purpose: "read share cards' QR codes with a tool we did not write (zbarimg; builder/custody, mvos keys split)",
    group: 'qa',
    detect: [{ command: 'zbarimg' }],
  },
  {
    package: 'socat',
    purpose:
      "join the onion gateway's forwarded connections to the agent's doors when the agent runs on this machine (scenario 024)",
    group: 'qa',
    detect: [{ command: 'socat' }],
  },
  // Test kernels may lack the wireguard module; the VPN lab's server runs the userspace implementation.
  {
    package: 'wireguard-go',
    purpose: "run the VPN lab's WireGuard server (qa/lib/vpn-lab.ts) without the kernel module",
    group: 'qa',
    detect: [{ command: 'wireguard-go' }],
  },
  {
    package: 'wireguard-tools',
    purpose: "configure the VPN lab's WireGuard server and make its keys",
    group: 'qa',
    detect: [{ command: 'wg' }],
  },
  {
    package: 'openvpn',
    purpose: "run the VPN lab's OpenVPN server",
    group: 'qa',
    detect: [{ command: 'openvpn' }],
  },
  {
    package: 'tmux',
    purpose: 'a real terminal for the `mvos vm console` test (raw mode, the terminal restored)',
    group: 'qa',
    detect: [{ command: 'tmux' }],
  },
  {
    package: 'strace',
    purpose: 'read the order of the writes of qemu-img (a rebase must write its header last)',
    group: 'qa',
    detect: [{ command: 'strace' }],
  },
];

// The text doctor shows for a detection: the command name or the file path.
export function describeDetection(detection: Detection): string {
  return 'command' in detection ? detection.command : detection.file;
}
