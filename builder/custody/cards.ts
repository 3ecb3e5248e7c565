// Share cards: for each custodian a printable page (SVG, A4) with what the share is for, "any T of N recover", the set,
// the share as text in lines of five-letter groups and as a QR code, and the QR code alone as a PNG; the sealed folder
// beside them as JSON. Written into a new folder, files 0600.
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { UserError } from '../../common/errors.ts';
import type { KeySplit } from './custody.ts';
import { openShare } from './share-card.ts';

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

// Writes the split into `dir` (new or empty): keys.sealed.json, share-K.txt, share-K.svg and share-K.png per share.
export async function writeCards(dir: string, split: KeySplit): Promise<string[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await readdir(dir)).length > 0) throw new UserError(`${dir} is not empty: write a split into a new folder`);
  const written: string[] = [];
  const put = async (name: string, data: string | Buffer) => {
    await writeFile(join(dir, name), data, { mode: 0o600, flag: 'wx' });
    written.push(join(dir, name));
  };
  await put(SEALED_FILE, `${JSON.stringify(split.sealed, null, 2)}\n`);
  for (const [i, text] of split.cards.entries()) {
    await put(`share-${i + 1}.txt`, `${text}\n`);
    await put(`share-${i + 1}.svg`, await cardPage(text, split));
    await put(`share-${i + 1}.png`, await QRCode.toBuffer(text, { type: 'png', errorCorrectionLevel: 'M', scale: 6 }));
  }
  return written;
}
