// Signed A/B updates on the host: takes a bundle (API, SSH jail, a labelled medium), checks all of it on the state
// partition before the ESP is touched, writes the slot that did not boot, reads it back, and only then names it in
// GRUB's try_slot. After the reboot into it, the health gate makes it boot_slot once the host is healthy; a try that
// never gets there (a panic, a hang, the gate's deadline: init's backstop reboots) leaves the next boot on the old slot,
// and the records say which version failed and why.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { UpdateApplied, UpdateSlotView, UpdateView } from '../../common/api-types.ts';
import type { UpdateConfig } from '../../common/host-config.ts';
import { BundleError, type BundleManifest, compareVersions, readBundle } from '../../common/update/bundle.ts';
import { keyIdText, type MinisignPublicKey, parsePublicKey } from '../../common/update/minisign.ts';
import { otherSlot, SLOTS, type Slot, slotConfig } from '../../common/update/slots.ts';
import { ControlError } from '../controls.ts';
import type { EspSource } from './esp.ts';
import {
  type BootEnv,
  type BootSelector,
  EspSlots,
  grubSelector,
  LAYOUT_PAYLOADS,
  type SlotLayout,
} from './esp-slots.ts';
import { UpdateRecords } from './records.ts';

// How often the gate looks at the host while a version is on trial.
const GATE_INTERVAL_MS = 1000;
// How long after answering an apply or a rollback the reboot starts (the answer must reach the caller first).
const REBOOT_DELAY_MS = 1000;

// What the service needs from the agent.
export interface UpdateServiceOptions {
  config?: UpdateConfig;
  host: string;
  version: string;
  stateDir: string;
  runDir: string;
  // The ESP with the slots (absent: this host did not boot from a disk with slots).
  esp?: EspSource;
  // The slot GRUB booted (`mvos.slot=`); a UKI host's is the slot holding the running version.
  booted?: Slot;
  // How the slots boot: GRUB (the default) or, on a Secure Boot host, signed UKIs chosen by the firmware's variables
  // (`selector`).
  layout?: SlotLayout;
  selector?: BootSelector;
  // Reboots the machine through init (absent: this agent does not own the machine's power).
  reboot?: () => void;
  // Whether init resets the boot counter on this host (it writes RUN/boot-counted once it has): the gate waits for it,
  // since both rewrite grubenv.
  bootCounter?: boolean;
  // Why updates cannot be applied on this boot although configured (the state partition is in RAM…).
  refuse?: string;
  log: (line: string) => void;
  onChange?: () => void;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

// The host's updates.
export class UpdateService {
  private env?: BootEnv;
  private versions: Partial<Record<Slot, string>> = {};
  private busy?: string;
  private booted?: Slot;
  private trialSlot?: { slot: Slot; version: string };
  private gate?: NonNullable<UpdateView['gate']>;
  private gateTimer?: NodeJS.Timeout;
  private readonly key?: MinisignPublicKey;

  private constructor(
    private readonly options: UpdateServiceOptions,
    private readonly records: UpdateRecords,
  ) {
    if (options.config) this.key = parsePublicKey(options.config.publicKey);
    this.booted = options.booted;
  }

  private get layout(): SlotLayout {
    return this.options.layout ?? 'grub';
  }

  private get selector(): BootSelector {
    return this.options.selector ?? grubSelector;
  }

  private slotsOf(dir: string, device?: string): EspSlots {
    return new EspSlots(dir, this.layout, device);
  }

  // Opens the records and settles what the last boot left: a try that did not come back is recorded as failed.
  static async open(options: UpdateServiceOptions): Promise<UpdateService> {
    const service = new UpdateService(options, await UpdateRecords.open(options.stateDir));
    if (service.espUsable) await service.settle();
    return service;
  }

  private get espUsable(): boolean {
    return Boolean(this.options.config && this.options.esp && (this.options.booted || this.layout === 'uki'));
  }

  // Why this host takes no bundle now (undefined: it does).
  private why(): string | undefined {
    if (!this.options.config) return 'this host takes no updates (its recipe has no update section)';
    if (!this.espUsable)
      return 'this host did not boot from a disk with A/B slots (an ISO, or kernel and initrd given directly)';
    if (this.env === undefined) return "the ESP's boot environment could not be read";
    if (!this.booted) return `no slot on the ESP holds the running version ${this.options.version}`;
    return this.options.refuse;
  }

  private async readEsp(slots: EspSlots): Promise<void> {
    this.env = await this.selector.read(slots);
    for (const slot of SLOTS) this.versions[slot] = await slots.version(slot);
    // Versions only grow, so the two slots never hold the same one.
    if (this.layout === 'uki') this.booted ??= SLOTS.find((slot) => this.versions[slot] === this.options.version);
  }

  private async settle(): Promise<void> {
    try {
      await this.options.esp!.use((dir, device) => this.readEsp(this.slotsOf(dir, device)));
    } catch (error) {
      this.options.log(`update: the ESP does not read: ${(error as Error).message}`);
      return;
    }
    const booted = this.booted;
    if (!booted) {
      this.options.log(`update: no slot on the ESP holds the running version ${this.options.version}`);
      return;
    }
    const trial = await this.records.trial();
    const at = new Date().toISOString();
    if (trial && trial.slot === booted) {
      this.trialSlot = trial;
      this.options.log(
        `update: ${trial.version} in slot ${booted} is on trial: the health gate decides whether it stays`,
      );
    } else if (trial) {
      const reason = (await this.records.trialFailure()) ?? (await this.unstartedReason(trial, booted));
      await this.records.record(
        trial.slot,
        { version: trial.version, state: 'bad', reason, at },
        { event: 'failed', slot: trial.slot, version: trial.version, detail: reason },
      );
      await this.records.clearTrial();
      this.options.log(
        `update: ${trial.version} in slot ${trial.slot} failed: ${reason}; running ${this.options.version}`,
      );
    }
    const mine = this.records.slots[booted];
    if (!this.trialSlot && (mine?.version !== this.options.version || mine.state !== 'good'))
      await this.records.record(
        booted,
        { version: this.options.version, state: 'good', at },
        mine ? undefined : { event: 'installed', slot: booted, version: this.options.version },
      );
  }

  // Why a try that left no reason failed: it started and then went down, or it never reached init.
  private async unstartedReason(trial: { slot: Slot; version: string }, booted: Slot): Promise<string> {
    if (await this.records.trialStarted(trial))
      return `it did not come up: the host booted slot ${booted} again (a panic, a hang, a power cut or a reboot before its health gate passed)`;
    if (this.layout === 'uki')
      return `the firmware never started it and booted slot ${booted} again: it refused the UKI (Secure Boot: not signed with a key in db), or the kernel failed before init, or the power was cut first`;
    return `it never reached init and the host booted slot ${booted} again: GRUB or the kernel failed, or the power was cut first`;
  }

  // Updates as status shows them.
  view(): UpdateView {
    const why = this.why();
    const slots: UpdateSlotView[] = SLOTS.map((slot) => {
      const version = this.versions[slot];
      const record = this.records.slots[slot];
      const known = record && (record.version === version || record.state === 'incomplete');
      // A write that was cut off took slot.cfg with it: the record still names the version.
      const shown = version ?? (known ? record.version : undefined);
      return {
        slot,
        ...(shown ? { version: shown } : {}),
        state: known ? record.state : version ? 'good' : 'empty',
        booted: this.booted === slot,
        bootSlot: this.env?.boot_slot === slot,
        trying: this.env?.try_slot === slot,
        ...(known && record.reason ? { reason: record.reason } : {}),
        ...(known ? { at: record.at } : {}),
      };
    });
    return {
      enabled: why === undefined,
      ...(why ? { why } : {}),
      version: this.options.version,
      ...(this.key ? { keyId: keyIdText(this.key.keyId) } : {}),
      ...(this.booted ? { booted: this.booted } : {}),
      slots: this.env ? slots : [],
      ...(this.gate ? { gate: { ...this.gate, unmet: [...this.gate.unmet] } } : {}),
      ...(this.busy ? { busy: this.busy } : {}),
      events: this.records.events.slice(-20),
    };
  }

  // Why a bundle found on a medium is not for this host now (undefined: apply it): not newer than what runs, or that
  // version already failed or waits here (a medium left in is never applied twice).
  skipReason(manifest: Pick<BundleManifest, 'host' | 'version'>): string | undefined {
    const why = this.why();
    if (why) return why;
    if (manifest.host !== this.options.host) return `it is for host ${manifest.host}`;
    if (compareVersions(manifest.version, this.options.version) <= 0)
      return `${manifest.version} is not newer than the running ${this.options.version}`;
    const known = SLOTS.map((slot) => this.records.slots[slot]).find((r) => r?.version === manifest.version);
    if (known && known.state !== 'good')
      return `${manifest.version} is ${known.state} here${known.reason ? ` (${known.reason})` : ''}`;
    if (this.trialSlot && !this.gate?.passed) return `${this.trialSlot.version} is on trial`;
    return undefined;
  }

  // Records something that changes no slot.
  note(event: Parameters<UpdateRecords['note']>[0]): Promise<void> {
    return this.records.note(event).then(() => this.changed());
  }

  // Whether this agent can reboot the machine.
  get canReboot(): boolean {
    return this.options.reboot !== undefined;
  }

  private changed(): void {
    this.options.onChange?.();
  }

  // Checks a whole bundle, then writes it to the slot that did not boot and names that slot for one try.
  async apply(input: Readable, who: string, reboot: boolean): Promise<UpdateApplied> {
    const why = this.why();
    if (why) throw new ControlError('conflict', why);
    if (this.busy) throw new ControlError('conflict', `an update is in progress already (${this.busy})`);
    if (this.trialSlot && !this.gate?.passed)
      throw new ControlError(
        'conflict',
        `${this.trialSlot.version} is on trial in slot ${this.trialSlot.slot}: wait for its health gate (or roll back)`,
      );
    if (reboot && !this.options.reboot)
      throw new ControlError('invalid', 'this agent cannot reboot the machine: apply without reboot');
    this.busy = 'receiving a bundle';
    this.changed();
    const staging = this.records.stagingDir;
    try {
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { mode: 0o700 });
      const staged: Record<string, string> = {};
      let config = '';
      const manifest = await readBundle(
        input,
        { publicKey: this.key!, host: this.options.host, version: this.options.version, now: new Date() },
        async (payload, content) => {
          const file = join(staging, payload.name);
          await pipeline(content, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
          staged[payload.name] = file;
        },
        (m) => {
          const want = LAYOUT_PAYLOADS[this.layout];
          if (m.payloads.length !== want.length || !m.payloads.every((p) => want.includes(p.name)))
            throw new BundleError(
              this.layout === 'uki'
                ? 'the bundle carries a kernel and initrd; this Secure Boot host boots only a signed UKI (uki.efi)'
                : 'the bundle carries a signed UKI (Secure Boot); this host boots its slots with GRUB',
            );
          try {
            config = slotConfig(m.version, m.cmdline ?? '');
          } catch (error) {
            throw new BundleError((error as Error).message);
          }
          this.busy = `receiving ${m.version}`;
          this.changed();
        },
      ).catch((error: Error) => {
        if (error instanceof BundleError) throw new ControlError('invalid', `bundle refused: ${error.message}`);
        throw error;
      });
      const target = otherSlot(this.booted!);
      this.busy = `writing ${manifest.version} to slot ${target}`;
      this.changed();
      await this.writeSlot(target, manifest, staged, config, who);
      const bytes = manifest.payloads.reduce((n, p) => n + p.size, 0);
      this.options.log(
        `update: ${manifest.version} written to slot ${target} by ${who}; the next boot tries it once${reboot ? ': rebooting' : ''}`,
      );
      if (reboot) setTimeout(() => this.options.reboot!(), REBOOT_DELAY_MS);
      return { slot: target, version: manifest.version, bytes, rebooting: reboot };
    } finally {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      this.busy = undefined;
      this.changed();
    }
  }

  private async writeSlot(
    target: Slot,
    manifest: BundleManifest,
    staged: Record<string, string>,
    config: string,
    who: string,
  ): Promise<void> {
    const { version } = manifest;
    const expected: Record<string, string> = { 'slot.cfg': sha256(config) };
    for (const p of manifest.payloads) expected[p.name] = p.sha256;
    await this.options.esp!.use(async (dir, device) => {
      const slots = this.slotsOf(dir, device);
      const need = manifest.payloads.reduce((n, p) => n + p.size, 0) + config.length;
      const room = await slots.room(target);
      if (room < need)
        throw new ControlError('conflict', `slot ${target} has room for ${room} bytes; ${version} needs ${need}`);
      const at = () => new Date().toISOString();
      this.options.log(`update: writing ${version} to slot ${target}`);
      await this.records.record(
        target,
        { version, state: 'incomplete', reason: 'being written', at: at() },
        { event: 'writing', slot: target, version, by: who },
      );
      try {
        await slots.retire(target);
        for (const name of LAYOUT_PAYLOADS[this.layout]) await slots.writeFile(target, name, staged[name]!);
        await slots.writeConfig(target, config);
        const wrong = await slots.verify(target, expected);
        if (wrong) throw new Error(`slot ${target} did not read back: ${wrong}`);
      } catch (error) {
        const reason = (error as Error).message;
        await slots.retire(target).catch(() => undefined);
        await this.records.record(
          target,
          { version, state: 'incomplete', reason, at: at() },
          {
            event: 'write failed',
            slot: target,
            version,
            detail: reason,
          },
        );
        await this.readEsp(slots).catch(() => undefined);
        throw error;
      }
      // The trial is named for init before GRUB (or the firmware) is told: a power cut between the two leaves a trial
      // that never ran, which the next boot records as failed, never a try without its gate.
      await this.records.setTrial({ slot: target, version });
      await this.selector.tryOnce(slots, target);
      await this.records.record(
        target,
        { version, state: 'pending', at: at() },
        {
          event: 'applied',
          slot: target,
          version,
          by: who,
          detail: 'written and read back; the next boot tries it once',
        },
      );
      await this.readEsp(slots);
    });
  }

  // Runs the health gate when this boot is a version on trial: `unmet` names what is not healthy yet.
  startGate(unmet: () => string[]): void {
    const trial = this.trialSlot;
    if (!trial || !this.options.config) return;
    this.gate = { ...trial, deadline: this.options.config.deadline, unmet: unmet(), passed: false };
    const tick = async (): Promise<void> => {
      const waiting = [...unmet()];
      if (
        this.options.bootCounter &&
        !(await access(join(this.options.runDir, 'boot-counted')).then(
          () => true,
          () => false,
        ))
      )
        waiting.push('init has not reset the boot counter yet');
      const changed = waiting.join() !== this.gate!.unmet.join();
      this.gate!.unmet = waiting;
      await writeFile(join(this.options.runDir, 'update-gate'), `${waiting.join('; ')}\n`).catch(() => undefined);
      if (changed) this.changed();
      if (waiting.length === 0) {
        try {
          await this.commit(trial);
          return;
        } catch (error) {
          this.options.log(`update: keeping ${trial.version} failed, trying again: ${(error as Error).message}`);
        }
      }
      this.gateTimer = setTimeout(() => void tick(), GATE_INTERVAL_MS);
    };
    void tick();
  }

  private async commit(trial: { slot: Slot; version: string }): Promise<void> {
    await this.setBootSlot(trial.slot);
    const at = new Date().toISOString();
    const uptime = Math.round(process.uptime());
    await this.records.record(
      trial.slot,
      { version: trial.version, state: 'good', at },
      { event: 'passed', slot: trial.slot, version: trial.version, detail: `healthy; the agent had run ${uptime} s` },
    );
    await this.records.clearTrial();
    await writeFile(join(this.options.runDir, 'update-good'), `${trial.slot} ${trial.version}\n`);
    this.trialSlot = undefined;
    this.gate = { ...this.gate!, unmet: [], passed: true };
    this.options.log(`update: ${trial.version} in slot ${trial.slot} passed its health gate and is kept`);
    this.changed();
  }

  // Makes `slot` the one booted by default with nothing on trial, and reads the ESP back for status.
  private async setBootSlot(slot: Slot): Promise<void> {
    await this.options.esp!.use(async (dir, device) => {
      const slots = this.slotsOf(dir, device);
      await this.selector.keep(slots, slot);
      await this.readEsp(slots);
    });
  }

  // Boots the other slot from the next boot on (a version on trial is given up: GRUB already cleared its try).
  async rollback(who: string, reboot: boolean): Promise<UpdateView> {
    const why = this.why();
    if (why) throw new ControlError('conflict', why);
    if (this.busy) throw new ControlError('conflict', `an update is in progress (${this.busy})`);
    if (reboot && !this.options.reboot)
      throw new ControlError('invalid', 'this agent cannot reboot the machine: roll back without reboot');
    const back = otherSlot(this.booted!);
    const at = new Date().toISOString();
    if (this.trialSlot && !this.gate?.passed) {
      const { slot, version } = this.trialSlot;
      if (this.gateTimer) clearTimeout(this.gateTimer);
      this.gate = undefined;
      this.trialSlot = undefined;
      const reason = `rolled back on request by ${who} before its health gate passed`;
      await this.records.record(
        slot,
        { version, state: 'bad', reason, at },
        { event: 'rolled back', slot, version, by: who },
      );
      await this.records.clearTrial();
    } else {
      const record = this.records.slots[back];
      const version = this.versions[back];
      if (!version || (record && record.version === version && record.state !== 'good'))
        throw new ControlError(
          'conflict',
          version
            ? `slot ${back} holds ${version}, which is ${record!.state}${record!.reason ? ` (${record!.reason})` : ''}`
            : `slot ${back} is empty: there is nothing to roll back to`,
        );
      await this.setBootSlot(back);
      await this.records.record(
        back,
        { version, state: 'good', at },
        {
          event: 'rolled back',
          slot: back,
          version,
          by: who,
          detail: `from ${this.options.version}`,
        },
      );
    }
    this.options.log(`update: rolled back by ${who}; the next boot runs slot ${back}${reboot ? ': rebooting' : ''}`);
    this.changed();
    if (reboot) setTimeout(() => this.options.reboot!(), REBOOT_DELAY_MS);
    return this.view();
  }

  // Stops the gate's timer.
  close(): void {
    if (this.gateTimer) clearTimeout(this.gateTimer);
  }
}
