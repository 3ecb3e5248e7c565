// The table of verbs: adding a verb is one module and one line here.
import type { Command } from '../command.ts';
import { agentCommand } from './agent.ts';
import { buildCommand } from './build.ts';
import { cacheCommand } from './cache.ts';
import { doctorCommand } from './doctor.ts';
import { firmwareCommand } from './firmware.ts';
import { flashCommand } from './flash.ts';
import { fleetCommand } from './fleet.ts';
import { keysCommand } from './keys.ts';
import { lockCommand } from './lock.ts';
import { netCommand } from './net.ts';
import { onionCommand } from './onion.ts';
import { otpCommand } from './otp.ts';
import { runCommand } from './run.ts';
import { sshCommand } from './ssh.ts';
import { updateCommand } from './update.ts';
import { userCommand } from './user.ts';
import { validateCommand } from './validate.ts';
import { vmCommand } from './vm.ts';

// Every verb, in the order `mvos --help` lists them.
export const commands: readonly Command[] = [
  validateCommand,
  doctorCommand,
  lockCommand,
  buildCommand,
  runCommand,
  flashCommand,
  cacheCommand,
  firmwareCommand,
  keysCommand,
  updateCommand,
  otpCommand,
  userCommand,
  agentCommand,
  vmCommand,
  netCommand,
  onionCommand,
  sshCommand,
  fleetCommand,
];
