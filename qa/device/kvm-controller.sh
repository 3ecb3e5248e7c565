#!/bin/sh
# Device check (a lent machine with KVM): controller-ready time from agent start vs a raw QEMU launch of the same
# controller image, both under KVM. Needs the kit made by qa/device/make-kit.ts (carried as qa/artifacts/kvm-kit).
set -u
K=qa/artifacts/kvm-kit
OUT=${OUT:-/tmp/kvm-out}
mkdir -p "$OUT"
{
	uname -a; nproc; ls -l /dev/kvm
	command -v qemu-system-x86_64 node taskset
	node --version; qemu-system-x86_64 --version | head -1
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v node >/dev/null || [ ! -w /dev/kvm ]; then
	echo "this machine lacks qemu-system-x86_64, node or a writable /dev/kvm: nothing to measure"
	exit 0
fi
R=$K/root
VM=$R/usr/share/mvos/vms/controller
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
for i in 1 2 3; do
	cp "$VM/vars.fd" /tmp/kvm-vars.fd
	t0=$(now)
	timeout 60 qemu-system-x86_64 -nodefaults -no-user-config -machine q35 -accel kvm -cpu host -smp 1 -m 512 -display none -no-reboot \
		-drive if=pflash,format=raw,unit=0,readonly=on,file=$R/usr/share/OVMF/OVMF_CODE_4M.fd -drive if=pflash,format=raw,unit=1,file=/tmp/kvm-vars.fd \
		-kernel "$VM/vmlinuz" -initrd "$VM/initrd" -append "mvos.root=/dev/vda console=ttyS0 quiet panic=-1" \
		-drive file="$VM/disk.erofs",format=raw,if=none,id=d0,readonly=on -device virtio-blk-pci,drive=d0 -serial stdio 2>&1 |
		grep -a -m1 -q MVOS-GUEST-READY
	echo "raw $i $(since "$t0")" | tee -a "$OUT/times.txt"
	pkill -f kvm-vars.fd
	rm -rf /tmp/kvm-state
	t0=$(now)
	timeout 90 node $K/agent.mjs --root "$R" --config $K/host.json --state-dir /tmp/kvm-state --run-dir /tmp/kvm-state/run --accel kvm >"$OUT/agent-$i.log" 2>&1 &
	n=0
	while ! grep -q "controller: ready" "$OUT/agent-$i.log" 2>/dev/null && [ $n -lt 1800 ]; do sleep 0.05; n=$((n + 1)); done
	echo "agent $i $(since "$t0")" | tee -a "$OUT/times.txt"
	grep -a "pinning\|ready\|accel" "$OUT/agent-$i.log" | head -5
	pkill -f "agent.mjs" ; kill -9 "$(cat /tmp/kvm-state/vms/controller/qemu.pid)" 2>/dev/null
	sleep 1
done
cp /tmp/kvm-state/vms/controller/serial.log "$OUT/serial.log" 2>/dev/null
