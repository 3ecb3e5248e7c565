// The escape of an interactive console, as OpenSSH has it: `~` right after Enter (or first of all) starts an escape;
// `~.` leaves, `~!` takes the keyboard over, `~?` lists them, `~~` sends one `~`. Shared by the SSH jail and `mvos vm
// console`.

// What typed input turns into: bytes for the guest, or an escape.
export type EscapeAction = { kind: 'send'; data: Buffer } | { kind: 'leave' } | { kind: 'take' } | { kind: 'help' };

// The help `~?` prints (CRLF: the terminal is raw).
export const ESCAPE_HELP =
  'escapes (after Enter): ~. leave the console  ~! take the keyboard over  ~~ send ~  ~? this help\r\n';

const TILDE = 0x7e;

// Reads typed input and splits it into guest bytes and escapes; it keeps its state between chunks.
export class EscapeScanner {
  private lineStart = true;
  private held = false;

  feed(data: Buffer): EscapeAction[] {
    const actions: EscapeAction[] = [];
    let out: number[] = [];
    const flush = (): void => {
      if (out.length > 0) actions.push({ kind: 'send', data: Buffer.from(out) });
      out = [];
    };
    for (const byte of data) {
      if (this.held) {
        this.held = false;
        const kind = byte === 0x2e ? 'leave' : byte === 0x21 ? 'take' : byte === 0x3f ? 'help' : undefined;
        if (kind) {
          flush();
          actions.push({ kind });
          // After an escape the next `~` starts another one, as after Enter.
          this.lineStart = true;
          continue;
        }
        if (byte !== TILDE) out.push(TILDE);
      } else if (this.lineStart && byte === TILDE) {
        this.held = true;
        continue;
      }
      out.push(byte);
      this.lineStart = byte === 0x0d || byte === 0x0a;
    }
    flush();
    return actions;
  }
}
