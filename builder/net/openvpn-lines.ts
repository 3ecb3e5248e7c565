// Reads .ovpn lines as OpenVPN itself does: its tokenizer, its line buffers, and where an inline block ends.
import type { Line, Report } from './config-problems.ts';

// OpenVPN reads a config line with fgets into 256 bytes (inline block lines into 255 bytes) and parses whatever is
// past that as a line of its own, so a longer line could hide a directive from this check.
export const OVPN_LINE_BYTES = 254;
const OVPN_BLOCK_CHUNK_BYTES = 255;

// OpenVPN's own tokenizer (options_util.c parse_line), so that what is checked here is what OpenVPN reads.
export function tokenize(line: string): string[] | string {
  const tokens: string[] = [];
  let state: 'initial' | 'plain' | 'double' | 'single' = 'initial';
  let backslash = false;
  let token = '';
  for (let i = 0; i <= line.length; i++) {
    const end = i === line.length;
    const c = end ? '' : line[i]!;
    const space = end || /[ \t\n\v\f\r]/.test(c);
    if (!backslash && c === '\\' && state !== 'single') {
      backslash = true;
      continue;
    }
    let out: string | undefined;
    let done = false;
    if (state === 'initial') {
      if (!space) {
        if (c === ';' || c === '#') break;
        if (!backslash && c === '"') state = 'double';
        else if (!backslash && c === "'") state = 'single';
        else {
          out = c;
          state = 'plain';
        }
      }
    } else if (state === 'plain') {
      if (!backslash && space) done = true;
      else out = c;
    } else if (state === 'double') {
      if (!backslash && c === '"') done = true;
      else out = c;
    } else if (c === "'") {
      done = true;
    } else {
      out = c;
    }
    if (done) {
      tokens.push(token);
      token = '';
      state = 'initial';
    }
    if (backslash && out !== undefined && out !== '' && !(out === '\\' || out === '"' || /[ \t\n\v\f\r]/.test(out))) {
      return 'a backslash escapes only \\, " and spaces';
    }
    backslash = false;
    if (out !== undefined && out !== '') token += out;
    if (tokens.length >= 16) break;
  }
  if (state === 'double') return 'a double quote is not closed';
  if (state === 'single') return 'a single quote is not closed';
  if (state !== 'initial') return 'the line ends in a backslash';
  return tokens;
}

// The line that ends the block opened before `from`, found as OpenVPN finds it: it reads block lines in 255-byte
// pieces and ends at the first piece that starts, after spaces, with the close tag.
export function findClose(lines: Line[], from: number, tag: string, report: Report): number | undefined {
  const close = `</${tag}>`;
  for (let index = from; index < lines.length; index++) {
    const line = lines[index]!;
    const bytes = Buffer.from(`${line.text}\n`, 'utf8');
    for (let offset = 0; offset < bytes.length; offset += OVPN_BLOCK_CHUNK_BYTES) {
      const piece = bytes.subarray(offset, offset + OVPN_BLOCK_CHUNK_BYTES).toString('latin1');
      if (!piece.replace(/^[ \t\n\v\f\r]+/, '').startsWith(close)) continue;
      if (offset > 0 || bytes.length > OVPN_BLOCK_CHUNK_BYTES) {
        report.add(
          line.number,
          1,
          `a line of ${bytes.length - 1} bytes holds ${close.slice(0, 40)}: expected the close tag on a short line of its own`,
          'OpenVPN reads long lines in pieces and would read the rest as directives: break the line',
        );
      }
      return index;
    }
  }
  return undefined;
}
