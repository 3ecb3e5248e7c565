// Makes qa/artifacts/kvm-kit for qa/device/kvm-controller.sh: the bundled agent, the controller image, OVMF, and a host
// config with only the controller.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleAgent } from '../../builder/agent/bundle.ts';
import { hostRoot } from '../lib/agent-run.ts';
import { ARTIFACTS } from '../lib/boot.ts';

const kit = join(ARTIFACTS, 'kvm-kit');
rmSync(kit, { recursive: true, force: true });
const host = await hostRoot();
const controller = host.config.vms.find((vm) => vm.role === 'controller')!;
for (const path of [
  controller.kernel,
  controller.initrd,
  controller.disk!,
  controller.firmware.vars!,
  controller.firmware.code!,
]) {
  mkdirSync(join(kit, 'root', path, '..'), { recursive: true });
  cpSync(join(host.root, path), join(kit, 'root', path));
}
writeFileSync(
  join(kit, 'host.json'),
  JSON.stringify(
    { ...host.config, vms: [{ ...controller, restart: { attempts: 0, backoffSeconds: 1 } }], containers: null },
    null,
    2,
  ),
);
writeFileSync(join(kit, 'agent.mjs'), (await bundleAgent()).code);
console.log(`wrote ${kit}`);
