// Checks an OpenVPN .ovpn and gives what the router needs: its servers and DNS, and the text without what it sets.
import { isIPv4 } from 'node:net';
import { hostKind, IPV6, IPV6_SERVER, MAX_ENDPOINTS, portNumber } from './config-addresses.ts';
import type { Line, Report } from './config-problems.ts';
import { DROPPED, refusalOf } from './openvpn-directives.ts';
import { findClose, OVPN_LINE_BYTES, tokenize } from './openvpn-lines.ts';
import type { ParsedVpnConfig, VpnEndpoint } from './vpn-config.ts';

const NAME = /^[a-z0-9-]+$/;

interface OpenVpnState {
  remotes: { host: string; port?: number; proto?: 'udp' | 'tcp'; line: number }[];
  remoteCount: number;
  port?: number;
  proto?: 'udp' | 'tcp';
  dns: string[];
  client: boolean;
  pull: boolean;
  tlsClient: boolean;
  server: boolean;
  truncated: boolean;
}

interface Directive {
  name: string;
  args: string[];
  inline: boolean;
  line: number;
  col: number;
}

// Parses the lines of an OpenVPN file, reporting every problem; the text keeps the directives the router does not set.
export function parseOpenVpn(lines: Line[], report: Report): ParsedVpnConfig {
  const state: OpenVpnState = {
    remotes: [],
    remoteCount: 0,
    dns: [],
    client: false,
    pull: false,
    tlsClient: false,
    server: false,
    truncated: false,
  };
  const kept: string[] = [];
  let index = 0;
  while (index < lines.length) {
    const { number, text, bad } = lines[index]!;
    index++;
    if (bad) continue;
    const col = text.length - text.trimStart().length + 1;
    if (Buffer.byteLength(text, 'utf8') > OVPN_LINE_BYTES) {
      report.add(
        number,
        col,
        `the line is ${Buffer.byteLength(text, 'utf8')} bytes: expected at most ${OVPN_LINE_BYTES} outside inline blocks`,
        'OpenVPN reads the rest of a longer line as a line of its own: shorten or delete it',
      );
      continue;
    }
    const tokens = tokenize(text);
    if (typeof tokens === 'string') {
      report.add(
        number,
        col,
        `${tokens}: expected OpenVPN quoting`,
        'quote an argument with spaces as "like this", and write a backslash as \\\\',
      );
      continue;
    }
    if (tokens.length === 0) continue;
    let name = tokens[0]!;
    if (name.length >= 3 && name.startsWith('--')) name = name.slice(2);
    if (name.startsWith('</')) {
      report.add(
        number,
        col,
        `${name.slice(0, 40)} closes no block: expected an opening tag before it`,
        'paste the whole block, from its opening tag to its closing tag',
      );
      continue;
    }
    if (tokens.length === 1 && name.length >= 2 && name.startsWith('<') && name.endsWith('>')) {
      const tag = name.slice(1, -1);
      const close = findClose(lines, index, tag, report);
      if (close === undefined) {
        report.add(
          number,
          col,
          `<${tag.slice(0, 40)}> is not closed: expected a </${tag.slice(0, 40)}> line`,
          `paste the whole block, ending with </${tag.slice(0, 40)}> on a line of its own`,
        );
        state.truncated = true;
        break;
      }
      if (checkDirective({ name: tag, args: [], inline: true, line: number, col }, state, report) === 'keep') {
        kept.push(text, ...lines.slice(index, close + 1).map((line) => line.text));
      }
      index = close + 1;
      continue;
    }
    if (checkDirective({ name, args: tokens.slice(1), inline: false, line: number, col }, state, report) === 'keep')
      kept.push(text);
  }
  return finishOpenVpn(state, kept, report);
}

function checkDirective(directive: Directive, state: OpenVpnState, report: Report): 'keep' | 'drop' {
  const { name, args, inline, line, col } = directive;
  if (!NAME.test(name)) {
    report.add(
      line,
      col,
      'this line is not an OpenVPN directive: expected a name of lowercase letters, digits and dashes',
      'compare the line with the file your VPN provider gives you',
    );
    return 'drop';
  }
  // `setenv opt X` is X itself, only ignored by an OpenVPN that does not know X.
  if (name === 'setenv' && args[0] === 'opt' && args[1] !== undefined && !inline) {
    return checkDirective({ ...directive, name: args[1], args: args.slice(2) }, state, report);
  }
  const refusal = refusalOf(name, args, inline);
  if (refusal) {
    if (name.startsWith('server') || name === 'tls-server' || name === 'mode') state.server = true;
    report.add(line, col, refusal.message, refusal.hint);
    return 'drop';
  }
  if (inline && (DROPPED.has(name) || name === 'client' || name === 'pull' || name === 'tls-client')) {
    report.add(
      line,
      col,
      `<${name}> is not an inline block: expected a \`${name}\` line`,
      `write \`${name}\` on one line, as OpenVPN reads it`,
    );
    return 'drop';
  }
  if (name === 'client') state.client = true;
  if (name === 'pull') state.pull = true;
  if (name === 'tls-client') state.tlsClient = true;
  if (!DROPPED.has(name)) return 'keep';
  if (name === 'remote') readRemote(directive, state, report);
  else if (name === 'port' || name === 'rport') {
    const port = portNumber(args[0] ?? '');
    if (port === undefined || args.length !== 1)
      report.add(line, col, `\`${name}\`: expected a port number 1-65535`, "copy the line from your provider's file");
    else state.port = port;
  } else if (name === 'proto') {
    const proto = readProto(args[0], directive, report);
    if (proto) state.proto = proto;
  } else if (name === 'dhcp-option' && args[0] === 'DNS' && args[1] !== undefined) {
    if (isIPv4(args[1])) state.dns.push(args[1]);
    else if (!args[1].includes(':'))
      report.add(
        line,
        col,
        `\`dhcp-option DNS ${args[1].slice(0, 40)}\`: expected an IPv4 address`,
        "copy the line from your provider's file",
      );
  } else if (name === 'dns' && args[0] === 'server' && args[2] === 'address') {
    state.dns.push(...args.slice(3).filter((address) => isIPv4(address)));
  }
  return 'drop';
}

function readProto(value: string | undefined, directive: Directive, report: Report): 'udp' | 'tcp' | undefined {
  if (value === 'udp' || value === 'udp4') return 'udp';
  if (value === 'tcp' || value === 'tcp-client' || value === 'tcp4' || value === 'tcp4-client') return 'tcp';
  const [message, hint] =
    value !== undefined && /^(udp|tcp)6/.test(value)
      ? [`protocol ${value} is IPv6: expected udp or tcp`, `${IPV6}: use udp or tcp`]
      : value?.endsWith('-server')
        ? [`protocol ${value} is a server's: expected udp or tcp`, 'use the client file your VPN provider gives you']
        : [
            `protocol ${JSON.stringify((value ?? '').slice(0, 20))}: expected udp or tcp`,
            "copy the line from your provider's file",
          ];
  report.add(directive.line, directive.col, message, hint);
  return undefined;
}

function readRemote(directive: Directive, state: OpenVpnState, report: Report): void {
  const { args, line, col } = directive;
  state.remoteCount++;
  if (state.remoteCount === MAX_ENDPOINTS + 1) {
    report.add(
      line,
      col,
      `more than ${MAX_ENDPOINTS} remote lines: expected at most ${MAX_ENDPOINTS}`,
      `keep the ${MAX_ENDPOINTS} servers you want the gateway to use`,
    );
  }
  const [host, port, proto] = args;
  if (host === undefined || args.length > 3) {
    report.add(line, col, '`remote`: expected HOST [PORT] [PROTO]', "copy the remote lines from your provider's file");
    return;
  }
  const kind = hostKind(host);
  if (kind === 'ipv6') {
    report.add(
      line,
      col,
      `remote ${host.slice(0, 60)} is an IPv6 address: expected an IPv4 address or host name`,
      IPV6_SERVER,
    );
    return;
  }
  if (kind === undefined) {
    report.add(
      line,
      col,
      `remote ${JSON.stringify(host.slice(0, 60))}: expected an IPv4 address or host name`,
      "copy the remote lines from your provider's file",
    );
    return;
  }
  const portValue = port === undefined ? undefined : portNumber(port);
  if (port !== undefined && portValue === undefined) {
    report.add(
      line,
      col,
      `remote port ${JSON.stringify(port.slice(0, 20))}: expected a number 1-65535`,
      "copy the remote lines from your provider's file",
    );
    return;
  }
  const protoValue = proto === undefined ? undefined : readProto(proto, directive, report);
  if (proto !== undefined && protoValue === undefined) return;
  state.remotes.push({ host: kind === 'name' ? host.toLowerCase() : host, port: portValue, proto: protoValue, line });
}

function finishOpenVpn(state: OpenVpnState, kept: string[], report: Report): ParsedVpnConfig {
  // Past an unclosed block OpenVPN reads nothing more, so what is missing there is no news.
  if (state.truncated) return { provider: 'openvpn', endpoints: [], addresses: [], dns: state.dns, text: '' };
  if (state.remoteCount === 0) {
    report.add(
      1,
      1,
      'no `remote` line: expected at least one `remote HOST [PORT] [PROTO]`',
      "copy the remote lines from your provider's file",
    );
  }
  if (!state.server && !state.client && !(state.pull && state.tlsClient)) {
    report.add(
      1,
      1,
      'not a client configuration: expected a `client` line (or `pull` with `tls-client`)',
      'add a `client` line: the gateway connects out to the VPN server',
    );
  }
  const endpoints = state.remotes.slice(0, MAX_ENDPOINTS).map(
    (remote): VpnEndpoint => ({
      host: remote.host,
      port: remote.port ?? state.port ?? 1194,
      proto: remote.proto ?? state.proto ?? 'udp',
    }),
  );
  return { provider: 'openvpn', endpoints, addresses: [], dns: state.dns, text: `${kept.join('\n')}\n` };
}
