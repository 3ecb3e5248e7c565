// Rules for agent.api: plain HTTP never leaves loopback unless the recipe says `insecure: true`, and never beside tls.
import type { Problem } from '../../common/errors.ts';
import type { RuleContext } from './rules.ts';
import { locate } from './yaml-source.ts';

// 127.0.0.0/8 and ::1: the only listen addresses no other machine can reach (a name could resolve anywhere, so it is
// not one).
function isLoopbackListen(listen: string): boolean {
  return /^127\.\d+\.\d+\.\d+:\d+$/.test(listen) || /^\[(0{0,4}:){2,7}0{0,3}1\]:\d+$/.test(listen);
}

// The TCP API's transport: a listen address off loopback needs tls, or insecure: true said in words.
export function checkApiRules(ctx: RuleContext): Problem[] {
  const api = ctx.raw.agent?.api;
  if (!api || !ctx.sound('/agent/api')) return [];
  if (api.insecure === true && api.tls !== undefined) {
    const path = '/agent/api/insecure';
    return [
      {
        location: locate(ctx.locations, path),
        path,
        message: `insecure: true beside tls: ${api.tls} (the API cannot be both)`,
        hint: 'drop `insecure: true`: with tls the API is served over HTTPS',
      },
    ];
  }
  if (api.listen === undefined || api.tls !== undefined || api.insecure === true || isLoopbackListen(api.listen))
    return [];
  const path = '/agent/api/listen';
  return [
    {
      location: locate(ctx.locations, path),
      path,
      message: `plain HTTP on ${api.listen}, off loopback: passwords, one-time codes and session cookies would cross the network readable`,
      hint:
        'add `tls: self-signed` (the agent makes a certificate and prints its fingerprint) or `tls: key-folder`' +
        ' under agent.api; or `insecure: true` if the network is yours alone',
    },
  ];
}
