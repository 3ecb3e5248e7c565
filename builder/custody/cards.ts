// Share cards: for each custodian a printable page (SVG, A4) with what the share is for, "any T of N recover", the set,
// the share as text in lines of five-letter groups and as a QR code, and the QR code alone as a PNG; the sealed folder
// beside them as JSON. Written into a new folder, files 0600.
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import QRCode from 'qrcode';
import type { KeySplit } from '../../common/custody/custody.ts';
import { openShare } from '../../common/custody/share-card.ts';
import { UserError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';

// The sealed folder's file name in a split's folder.
export const SEALED_FILE = 'keys.sealed.json';

// The dealer's key as people compare it: sha256 of its bytes, first 16 hex digits in groups of four.
export function dealerFingerprint(dealerHex: string): string {
  const hex = createHash('sha256').update(Buffer.from(dealerHex, 'hex')).digest('hex').slice(0, 16);
  return hex.match(/.{4}/g)!.join(' ');
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// One card's SVG page.
async function cardPage(text: string, split: KeySplit): Promise<string> {
  const share = openShare(text, 'card');
  const { sealed } = split;
  const qr = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
  const lines = text.match(/.{1,48}(-|$)/g)!.map((l) => l.replace(/-$/, ''));
  const rows = [
    `Multiverse key custody: share ${share.index} of ${share.shares}`,
    `Any ${share.threshold} of the ${share.shares} shares recover the key folder; fewer reveal nothing.`,
    sealed.label ? `For: ${sealed.label}` : '',
    `Set ${sealed.setId.slice(0, 16)}, dealer ${dealerFingerprint(sealed.dealer)}`,
    `Recover: mvos keys recover --sealed ${SEALED_FILE} (the sealed file is kept apart; it is useless alone)`,
  ].filter(Boolean);
  const text_ = (y: number, size: number, value: string, mono = false) =>
    `<text x="20" y="${y}" font-size="${size}"${mono ? ' font-family="monospace"' : ' font-family="sans-serif"'}>${escapeXml(value)}</text>`;
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297">',
    '<rect width="210" height="297" fill="white"/>',
    ...rows.map((row, i) => text_(20 + i * 7, i === 0 ? 6 : 3.5, row)),
    ...lines.map((line, i) => text_(64 + i * 5.5, 4, line, true)),
    `<g transform="translate(45 ${74 + lines.length * 5.5}) scale(${120 / (QRCode.create(text, { errorCorrectionLevel: 'M' }).modules.size + 8)})">`,
    qr.replace(/^<svg[^>]*>/, '').replace(/<\/svg>\s*$/, ''),
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}

// A custodian a share is encrypted to: a name for the file and an age or SSH public key (age encrypts to both).
export interface Custodian {
  name: string;
  key: string;
}

// Parses `NAME=KEY` (the key an age recipient, age1…, or an SSH public key line, ssh-ed25519/ssh-rsa …).
export function parseCustodian(text: string): Custodian {
  const match =
    /^([a-z][a-z0-9-]{0,31})=(age1[0-9a-z]{58}|ssh-(ed25519|rsa) [A-Za-z0-9+/=]{20,2000}( \S{0,200})?)$/.exec(
      text.trim(),
    );
  if (!match)
    throw new UserError(
      `--to takes NAME=KEY, a name like "alice" and an age (age1…) or SSH public key (got "${text}")`,
      {
        hint: 'e.g. --to alice="$(cat ~alice/.ssh/id_ed25519.pub)"',
      },
    );
  return { name: match[1]!, key: match[2]! };
}

// The share's text encrypted to the custodian's key with age (ASCII armour).
async function encryptTo(custodian: Custodian, text: string): Promise<Buffer> {
  const run = await runTool('age', ['--armor', '--recipient', custodian.key], { input: `${text}\n` }).catch(
    (error: Error) => {
      throw new UserError(`age could not encrypt share for ${custodian.name}: ${error.message}`, {
        hint: 'install age (apt-get install age), or run mvos doctor --fix',
      });
    },
  );
  return Buffer.from(run.stdout);
}

// Writes the split into `dir` (new or empty): keys.sealed.json, and per share share-K.txt, share-K.svg and share-K.png,
// or for the shares given to custodians (`to`, in order: the first named gets share 1) only share-K-NAME.age, the
// share encrypted to them, so no copy of theirs lies here in the clear.
export async function writeCards(dir: string, split: KeySplit, to: Custodian[] = []): Promise<string[]> {
  if (to.length > split.cards.length)
    throw new UserError(`${to.length} custodians named with --to, but the split has ${split.cards.length} shares`);
  if (new Set(to.map((c) => c.name)).size !== to.length) throw new UserError('each --to needs a name of its own');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await readdir(dir)).length > 0) throw new UserError(`${dir} is not empty: write a split into a new folder`);
  const written: string[] = [];
  const put = async (name: string, data: string | Buffer) => {
    await writeFile(join(dir, name), data, { mode: 0o600, flag: 'wx' });
    written.push(join(dir, name));
  };
  await put(SEALED_FILE, `${JSON.stringify(split.sealed, null, 2)}\n`);
  for (const [i, text] of split.cards.entries()) {
    const custodian = to[i];
    if (custodian) {
      await put(`share-${i + 1}-${custodian.name}.age`, await encryptTo(custodian, text));
      continue;
    }
    await put(`share-${i + 1}.txt`, `${text}\n`);
    await put(`share-${i + 1}.svg`, await cardPage(text, split));
    await put(`share-${i + 1}.png`, await QRCode.toBuffer(text, { type: 'png', errorCorrectionLevel: 'M', scale: 6 }));
  }
  return written;
}
