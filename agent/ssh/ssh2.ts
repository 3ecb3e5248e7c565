// The one place that imports ssh2 (a CommonJS package): its server, key parser and types, for the rest of agent/ssh.
import ssh2 from 'ssh2';

// The ssh2 types the server code names.
export type {
  AuthContext,
  ClientInfo,
  Connection,
  KeyboardAuthContext,
  ParsedKey,
  PublicKeyAuthContext,
  ServerChannel,
  Session,
} from 'ssh2';

// The SSH server class.
export const Server = ssh2.Server;

// Parses a private or public key (OpenSSH, PEM, RFC 4716); an Error instead of a key when it cannot.
export const parseKey = ssh2.utils.parseKey;
