// Which OpenVPN directives the router refuses, with why and what to do instead, and which it sets itself.

// The router sets these itself (tunnel device, servers, routes, DNS, privileges), so they leave the text.
export const DROPPED = new Set([
  'remote',
  'dev',
  'dev-type',
  'dev-node',
  'proto',
  'port',
  'rport',
  'lport',
  'redirect-gateway',
  'redirect-private',
  'route',
  'route-ipv6',
  'ifconfig-ipv6',
  'dhcp-option',
  'dns',
  'block-outside-dns',
  'persist-tun',
  'user',
  'group',
  // The router's own pull filters decide which pushed options count; one of the file's would be matched first.
  'pull-filter',
  'route-nopull',
  'route-noexec',
]);

// The options that carry the tunnel's certificates and keys, which every provider's .ovpn has some of.
export const KEY_OPTIONS = ['ca', 'cert', 'key', 'tls-auth', 'tls-crypt', 'tls-crypt-v2', 'pkcs12'];

// Options whose argument names a file: on the router only their inline block form can work.
const FILE_OPTIONS = new Set([...KEY_OPTIONS, 'extra-certs', 'crl-verify', 'dh', 'auth-user-pass', 'capath']);

// Why a directive is refused, and what to write instead.
export interface Refusal {
  message: string;
  hint: string;
}

function refusals(): Map<string, Refusal> {
  const map = new Map<string, Refusal>();
  const add = (names: string[], message: string, hint: string) => {
    for (const name of names) map.set(name, { message: `\`${name}\` ${message}`, hint });
  };
  add(
    [
      'up',
      'down',
      'route-up',
      'route-pre-down',
      'ipchange',
      'learn-address',
      'tls-verify',
      'client-connect',
      'client-disconnect',
      'auth-user-pass-verify',
      'iproute',
      'dns-updown',
    ],
    'runs a program: refused',
    'the gateway runs no scripts: its kill switch is a static firewall and it sets routes and DNS itself; delete this line',
  );
  add(
    ['plugin', 'engine', 'pkcs11-providers'],
    'loads code into OpenVPN: refused',
    'the gateway loads no plugins or engines: delete this line and paste the certificate and key inline',
  );
  add(
    ['script-security'],
    'lets OpenVPN run scripts: refused',
    'the gateway runs no scripts: delete this line (and any up/down lines)',
  );
  add(
    ['setenv', 'setenv-safe'],
    'sets environment variables for scripts: refused',
    'the gateway runs no scripts: delete this line',
  );
  add(
    ['config'],
    'includes another file: refused',
    "the gateway has only this file: paste the included file's lines here instead",
  );
  add(
    [
      'cd',
      'chroot',
      'daemon',
      'inetd',
      'log',
      'log-append',
      'syslog',
      'status',
      'writepid',
      'tmp-dir',
      'replay-persist',
      'tls-export-cert',
    ],
    'is set by the gateway: refused',
    'the gateway runs OpenVPN in its own directory with its own logging: delete this line',
  );
  add(
    ['askpass'],
    'asks for a private key passphrase: refused',
    'the gateway starts unattended: paste an unencrypted key inline (`openssl pkey -in key.pem -out plain.pem`)',
  );
  add(
    ['secret'],
    'selects static-key mode, deprecated in OpenVPN 2.6 and removed in 2.7: refused',
    'ask your provider for a TLS configuration (<ca>, <cert>, <key> or <tls-crypt>)',
  );
  add(['connection'], 'blocks are not supported', 'write one `remote HOST PORT PROTO` line for each server instead');
  add(
    ['server', 'server-bridge', 'server-ipv6', 'tls-server'],
    'makes this a server configuration: expected a client',
    'use the client file your VPN provider gives you (it has `client` and `remote` lines)',
  );
  return map;
}

const REFUSED = refusals();

// The refusal of a directive (`inline` when written as a <block>); undefined when the router accepts it.
export function refusalOf(name: string, args: string[], inline: boolean): Refusal | undefined {
  const listed = REFUSED.get(name);
  if (listed) return listed;
  if (name.startsWith('management'))
    return {
      message: `\`${name}\` opens a management interface: refused`,
      hint: 'the gateway controls OpenVPN itself: delete this line',
    };
  if (name.startsWith('http-proxy') || name.startsWith('socks-proxy'))
    return {
      message: `\`${name}\` sends the tunnel through a proxy: refused`,
      hint: "the gateway's firewall lets the tunnel reach only the VPN servers themselves: delete this line",
    };
  if (name === 'mode' && args[0] === 'server')
    return {
      message: '`mode server` makes this a server configuration: expected a client',
      hint: 'use the client file your VPN provider gives you (it has `client` and `remote` lines)',
    };
  if ((name === 'dev' && args[0]?.startsWith('tap')) || (name === 'dev-type' && args[0] === 'tap'))
    return {
      message: `\`${name} ${args[0]}\` asks for an Ethernet (tap) tunnel: expected tun`,
      hint: "the gateway runs a routed tun tunnel; VPN providers' client files use `dev tun`",
    };
  if (name === 'providers' && args.some((arg) => arg.includes('/')))
    return {
      message: '`providers` with a path loads code into OpenVPN: refused',
      hint: 'name OpenSSL providers by name only, such as `providers legacy default`',
    };
  if (inline || !FILE_OPTIONS.has(name)) return undefined;
  if (name === 'auth-user-pass' && args.length === 0)
    return {
      message: '`auth-user-pass` without a file asks for the password at a prompt: refused',
      hint: 'the gateway has no prompt: paste the username and password inline, each on its own line, between <auth-user-pass> and </auth-user-pass>, or use certificate auth',
    };
  const block = name === 'capath' ? 'ca' : name;
  const direction = name === 'tls-auth' && args[1] !== undefined ? ` with a \`key-direction ${args[1]}\` line` : '';
  return {
    message: `\`${name}\` reads a file the gateway does not have: expected the contents inline`,
    hint: `paste the file inline as <${block}>…</${block}>${direction}`,
  };
}
