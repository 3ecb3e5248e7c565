// The TSC rate a TCG microvm is told: from the host kernel's log, else from a CPU that knows its TSC rate, else none.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostTscKhz, microvmClockArgs, parseTscKhz } from './tsc.ts';

const KNOWN =
  'processor\t: 0\ncpu MHz\t\t: 2596.096\nflags\t\t: fpu tsc constant_tsc tsc_known_freq\n\nprocessor\t: 1\n';
const SCALED = 'processor\t: 0\ncpu MHz\t\t: 3400.000\nflags\t\t: fpu tsc constant_tsc\n';

test('the refined calibration in the kernel log wins, then the first guess', () => {
  const log = [
    '6,12,0,-;tsc: Detected 2592.000 MHz processor',
    '6,200,900,-;tsc: Refined TSC clocksource calibration: 2591.998 MHz',
  ];
  assert.is(parseTscKhz(log, SCALED), 2591998);
  assert.is(parseTscKhz(log.slice(0, 1), SCALED), 2592000);
});

test('without a log line, cpu MHz counts only where the CPU says its TSC rate is known', () => {
  assert.is(parseTscKhz([], KNOWN), 2596096);
  assert.is(parseTscKhz([], SCALED), undefined, 'a scaled clock is not the TSC rate');
  assert.is(parseTscKhz(['6,1,0,-;clocksource: tsc: mask: 0xffffffffffffffff'], ''), undefined);
});

test('the arguments are for TCG with a known rate only', () => {
  assert.is(microvmClockArgs('tcg', 2596096), 'tsc_early_khz=2596096 tsc=reliable');
  assert.is(microvmClockArgs('kvm', 2596096), '');
  assert.is(microvmClockArgs('tcg', undefined), '');
});

test('this host has an answer or none, the same each time', () => {
  const khz = hostTscKhz();
  assert.ok(khz === undefined || (Number.isInteger(khz) && khz > 100_000), String(khz));
  assert.is(hostTscKhz(), khz);
});

test.run();
