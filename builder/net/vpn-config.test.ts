// Provider files as a whole: size and line bounds, the provider detected, every problem reported at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../common/errors.ts';
import { CA, PROVIDER_CONF, PROVIDER_OVPN, refusedAt, wgFile } from './vpn-config.test-support.ts';
import { parseVpnConfig } from './vpn-config.ts';

test('every problem in the file is reported at once, sorted, in a message naming file:line:col', () => {
  try {
    parseVpnConfig(wgFile(['PostUp = x', 'MTU = 1']), 'home/se.conf');
    assert.unreachable();
  } catch (error) {
    assert.instance(error, UserError);
    const e = error as UserError;
    assert.equal(
      e.problems.map((p) => [p.location?.line, p.location?.col]),
      [
        [4, 1],
        [5, 1],
      ],
    );
    assert.match(e.message, /^home\/se\.conf has 2 problems, the first at home\/se\.conf:4:1: PostUp runs a command/);
    assert.is(e.hint, e.problems[0]?.hint);
    assert.is(e.exitCode, 2);
  }
  try {
    parseVpnConfig(wgFile(['MTU = 1']), 'se.conf');
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, /^se\.conf:4:1: MTU: expected a number from 576 to 9000$/);
  }
});

test('input bounds: 64 KiB per file, 4096 characters per line, no control characters', () => {
  const big = `${wgFile()}\n${'#'.repeat(100)}\n`.repeat(700);
  const oversize = refusedAt(big, 1, 1, /^the file is \d+ bytes: expected at most 65536/);
  assert.ok(oversize);
  refusedAt(wgFile([`# ${'x'.repeat(4100)}`]), 4, 1, /^the line is 4102 characters: expected at most 4096/);
  refusedAt(wgFile(['MTU = 1420\u0000']), 4, 11, /^control character 0x00/);
});

test('the provider comes from the content unless given; unknown content is refused', () => {
  assert.is(parseVpnConfig(PROVIDER_CONF, 'a').provider, 'wireguard');
  assert.is(parseVpnConfig(PROVIDER_OVPN, 'a').provider, 'openvpn');
  assert.is(parseVpnConfig(['remote 203.0.113.1', 'client', ...CA].join('\n'), 'a').provider, 'openvpn');
  refusedAt('hello = world\n', 1, 1, /^neither a WireGuard nor an OpenVPN configuration/);
  refusedAt('', 1, 1, /^neither a WireGuard nor an OpenVPN/);
  refusedAt(PROVIDER_OVPN, 2, 1, /^expected `Key = value`/, 'wireguard');
  refusedAt(PROVIDER_CONF, 2, 1, /^this line is not an OpenVPN directive/, 'openvpn');
});

test.run();
