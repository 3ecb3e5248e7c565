// The router kernel against the rulesets the agent compiles: every nftables expression a ruleset uses needs its kernel
// module built in (the router has no modules to load), or the router refuses the whole ruleset at boot.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fragmentOptions, readConfigFragments } from '../../builder/kernel/source.ts';
import type { NetworksConfig } from '../../common/host-config.ts';
import { TEST_NETWORKS, TEST_OPENVPN, TEST_TOR, TEST_WIREGUARD } from '../../common/net/fixture.test-support.ts';
import { compileRuleset } from '../../common/net/nftables.ts';
import { routerPlan } from '../../common/net/plan.ts';
import { repoRoot } from '../lib/host-image.ts';

// The kernel option each statement or expression of ours needs (nf_tables core covers the rest: payload, meta, cmp,
// lookup, immediate, counter).
const NEEDS: Record<string, string> = {
  ct: 'NFT_CT',
  masquerade: 'NFT_MASQ',
  dnat: 'NFT_NAT',
  redirect: 'NFT_REDIR',
  reject: 'NFT_REJECT',
  limit: 'NFT_LIMIT',
};

function keys(value: unknown, found: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const item of value) keys(item, found);
  else if (value && typeof value === 'object')
    for (const [key, inner] of Object.entries(value)) {
      found.add(key);
      keys(inner, found);
    }
  return found;
}

test('every expression the compiled rulesets use is built into the router kernel', async () => {
  const options = fragmentOptions(await readConfigFragments(join(repoRoot, 'kernel-config', 'guest-router')));
  const fixtures: Array<[NetworksConfig, string]> = [
    [TEST_NETWORKS, 'router'],
    [TEST_WIREGUARD, 'gw'],
    [TEST_OPENVPN, 'gw'],
    [TEST_TOR, 'torgw'],
    [TEST_TOR, 'router'],
  ];
  const used = new Set<string>();
  for (const [config, router] of fixtures) keys(compileRuleset(routerPlan(config, router)!).json, used);
  for (const need of ['ct', 'masquerade', 'dnat', 'redirect', 'reject'])
    assert.ok(used.has(need), `the fixtures use ${need} (or this test checks nothing)`);
  for (const [expression, option] of Object.entries(NEEDS))
    if (used.has(expression))
      assert.is(options.get(`CONFIG_${option}`)?.value, 'y', `${expression} needs CONFIG_${option}=y`);
});

test.run();
