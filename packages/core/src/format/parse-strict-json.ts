import { FormatError, type FormatErrorCode } from '../errors';

/**
 * `JSON.parse` that rejects duplicate object keys at any depth. `JSON.parse` silently keeps the last of
 * two equal keys, so two readers of the same header could disagree about a tensor's offsets; the format
 * forbids that ambiguity. Syntax errors throw `FormatError(syntaxCode)`, duplicates `DUPLICATE_KEY`.
 */
export function parseStrictJson(text: string, syntaxCode: FormatErrorCode, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FormatError(syntaxCode, `${what} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) {
    throw new FormatError(
      'DUPLICATE_KEY',
      `${what} has the key ${JSON.stringify(duplicate)} twice in one object.`,
    );
  }
  return value;
}

/**
 * The first key that occurs twice in the same object of `text`, which must already be valid JSON.
 * Iterative (an explicit stack), so deeply nested input cannot overflow the call stack.
 */
export function findDuplicateKey(text: string): string | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      const start = i;
      i++;
      for (;;) {
        const c = text.charCodeAt(i);
        if (c === 0x5c /* \ */) i += 2;
        else if (c === 0x22) break;
        else i++;
      }
      if (expectKey) {
        const raw = text.slice(start, i + 1);
        // Keys are compared after unescaping: "a" and "\u0061" are the same key.
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
    } else if (ch === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (ch === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (ch === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return undefined;
}
