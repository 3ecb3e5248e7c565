// Console output as text for people and the API.

// A tail cut inside a UTF-8 character starts at the next whole one instead of a replacement mark.
export function consoleText(bytes: Buffer): string {
  let start = 0;
  while (start < 3 && start < bytes.length && (bytes.readUInt8(start) & 0xc0) === 0x80) start++;
  return bytes.subarray(start).toString('utf8');
}
