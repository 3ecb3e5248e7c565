// The host's update records on the state partition (update/): each slot's verdict and a short history (slots.json),
// the slot on trial (trial: "SLOT VERSION", read by init, whose backstop reboots a trial that never passes its gate),
// that the trial's boot reached init (trial-started, written by init) and why init gave up on one (trial-failed).
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { UpdateEvent, UpdateSlotState } from '../../common/api-types.ts';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { isSlot, type Slot } from '../../common/update/slots.ts';

// How many events the history keeps.
export const MAX_UPDATE_EVENTS = 50;

// What the agent knows of one slot beyond its slot.cfg.
export interface SlotRecord {
  version: string;
  state: Exclude<UpdateSlotState, 'empty'>;
  reason?: string;
  at: string;
}

// slots.json.
export interface UpdateRecordFile {
  slots: Partial<Record<Slot, SlotRecord>>;
  events: UpdateEvent[];
}

// The slot on trial, as init reads it.
export interface Trial {
  slot: Slot;
  version: string;
}

function parseRecords(text: string): UpdateRecordFile {
  const json = JSON.parse(text) as UpdateRecordFile;
  const slots: UpdateRecordFile['slots'] = {};
  for (const slot of ['a', 'b'] as const) {
    const r = json.slots?.[slot];
    if (r && typeof r.version === 'string' && typeof r.state === 'string' && typeof r.at === 'string') slots[slot] = r;
  }
  return { slots, events: Array.isArray(json.events) ? json.events.slice(-MAX_UPDATE_EVENTS) : [] };
}

// The records of one state folder; every change is written through before it returns.
export class UpdateRecords {
  private constructor(
    private readonly dir: string,
    private data: UpdateRecordFile,
  ) {}

  // Opens (or starts) the records; a file that does not read starts over (it only describes, it never decides).
  static async open(stateDir: string): Promise<UpdateRecords> {
    const dir = join(stateDir, 'update');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const text = await readFile(join(dir, 'slots.json'), 'utf8').catch(() => undefined);
    let data: UpdateRecordFile = { slots: {}, events: [] };
    try {
      if (text !== undefined) data = parseRecords(text);
    } catch {
      data = { slots: {}, events: [] };
    }
    return new UpdateRecords(dir, data);
  }

  get slots(): Readonly<UpdateRecordFile['slots']> {
    return this.data.slots;
  }

  get events(): readonly UpdateEvent[] {
    return this.data.events;
  }

  // The folder for a bundle's payloads while they are checked (on the state partition, never the ESP).
  get stagingDir(): string {
    return join(this.dir, 'incoming');
  }

  // Sets a slot's record and adds an event, in one write.
  async record(slot: Slot, value: SlotRecord | undefined, event?: Omit<UpdateEvent, 'at'>): Promise<void> {
    const slots = { ...this.data.slots };
    if (value) slots[slot] = value;
    else delete slots[slot];
    await this.write(slots, event);
  }

  // Adds an event that changes no slot (a bundle on a medium refused, say).
  note(event: Omit<UpdateEvent, 'at'>): Promise<void> {
    return this.write(this.data.slots, event);
  }

  private async write(slots: UpdateRecordFile['slots'], event?: Omit<UpdateEvent, 'at'>): Promise<void> {
    const events = event
      ? [...this.data.events, { at: new Date().toISOString(), ...event }].slice(-MAX_UPDATE_EVENTS)
      : this.data.events;
    const next = { slots, events };
    await writeFileAtomic(join(this.dir, 'slots.json'), `${JSON.stringify(next, null, 2)}\n`);
    this.data = next;
  }

  // The slot on trial, if any.
  async trial(): Promise<Trial | undefined> {
    const text = await readFile(join(this.dir, 'trial'), 'utf8').catch(() => '');
    const [slot, version] = text.trim().split(' ');
    return isSlot(slot) && version ? { slot, version } : undefined;
  }

  // Names the slot init gives a gate at its next boot.
  async setTrial(trial: Trial): Promise<void> {
    await rm(join(this.dir, 'trial-started'), { force: true });
    await writeFileAtomic(join(this.dir, 'trial'), `${trial.slot} ${trial.version}\n`, { mode: 0o644 });
  }

  // Ends a trial (passed, or its failure recorded), with init's reason file.
  async clearTrial(): Promise<void> {
    await rm(join(this.dir, 'trial'), { force: true });
    await rm(join(this.dir, 'trial-failed'), { force: true });
    await rm(join(this.dir, 'trial-started'), { force: true });
  }

  // Whether init ran in the trial's boot (it writes the trial's line when it starts its backstop).
  async trialStarted(trial: Trial): Promise<boolean> {
    const text = await readFile(join(this.dir, 'trial-started'), 'utf8').catch(() => '');
    return text.trim() === `${trial.slot} ${trial.version}`;
  }

  // Why init gave up on the trial (the gate's deadline passed), if it did.
  async trialFailure(): Promise<string | undefined> {
    const text = await readFile(join(this.dir, 'trial-failed'), 'utf8').catch(() => undefined);
    return text?.trim().slice(0, 1000) || undefined;
  }
}
