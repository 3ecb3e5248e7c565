// What the tar readers (readTar and the .deb reader) keep of a tar-stream header besides its name and type.
import type { Header } from 'tar-stream';

// Permission bits, numeric owner, and the link target and device numbers where the entry's type has them.
export interface HeaderFields {
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

// Reads them from raw: a symlink's target stays as written, a hard link's names a member, so it goes through normalise.
export function headerFields(raw: Header, normalise: (path: string) => string): HeaderFields {
  const fields: HeaderFields = { mode: (raw.mode ?? 0) & 0o7777, uid: raw.uid ?? 0, gid: raw.gid ?? 0 };
  if (raw.type === 'symlink') fields.linkname = raw.linkname ?? '';
  if (raw.type === 'link') fields.linkname = normalise(raw.linkname ?? '');
  if (raw.type === 'character-device' || raw.type === 'block-device') {
    fields.devmajor = raw.devmajor ?? 0;
    fields.devminor = raw.devminor ?? 0;
  }
  return fields;
}
