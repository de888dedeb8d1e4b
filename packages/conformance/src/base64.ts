import { InvalidArgumentError } from '@dbf/core';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/**
 * Decodes standard base64 (RFC 4648 §4, `=` padding optional, ASCII whitespace ignored). Written out
 * because the suite runs in browsers (no Buffer) and `atob` yields a binary string we would copy anyway.
 */
export function decodeBase64(text: string): Uint8Array {
  if (typeof text !== 'string') throw new InvalidArgumentError('decodeBase64 needs a string.');
  const clean = text.replace(/[\t\n\f\r ]+/g, '');
  let end = clean.length;
  while (end > 0 && clean.length - end < 2 && clean[end - 1] === '=') end--;
  if (end % 4 === 1)
    throw new InvalidArgumentError(
      `Invalid base64: ${end} significant characters cannot encode whole bytes.`,
    );
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let bits = 0;
  let bitCount = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const code = clean.charCodeAt(i);
    const value = code < 128 ? DECODE[code]! : -1;
    if (value < 0)
      throw new InvalidArgumentError(
        `Invalid base64 character ${JSON.stringify(clean[i])} at position ${i}.`,
      );
    bits = ((bits << 6) | value) & 0xffffff;
    bitCount += 6;
    if (bitCount >= 8) {
      bitCount -= 8;
      out[o++] = (bits >>> bitCount) & 0xff;
    }
  }
  return out;
}
