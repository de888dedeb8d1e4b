/** A tiny protobuf writer, to build SentencePiece models by hand in tests. */
export type Field =
  | { field: number; varint: number }
  | { field: number; float: number }
  | { field: number; bytes: Uint8Array | string | Field[] };

export function encodeMessage(fields: readonly Field[]): Uint8Array {
  const out: number[] = [];
  const varint = (v: number) => {
    let x = v;
    while (x >= 0x80) {
      out.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    out.push(x);
  };
  for (const f of fields) {
    if ('varint' in f) {
      varint(f.field * 8);
      varint(f.varint);
    } else if ('float' in f) {
      varint(f.field * 8 + 5);
      out.push(...new Uint8Array(Float32Array.of(f.float).buffer));
    } else {
      const body =
        typeof f.bytes === 'string'
          ? new TextEncoder().encode(f.bytes)
          : f.bytes instanceof Uint8Array
            ? f.bytes
            : encodeMessage(f.bytes);
      varint(f.field * 8 + 2);
      varint(body.length);
      out.push(...body);
    }
  }
  return Uint8Array.from(out);
}

const TYPE_CODES = { normal: 1, unknown: 2, control: 3, 'user-defined': 4, unused: 5, byte: 6 } as const;

/** A SentencePiece ModelProto with the given pieces and trainer/normalizer fields. */
export function sentencePieceModel(
  pieces: readonly { piece: string; score?: number; type?: keyof typeof TYPE_CODES }[],
  trainer: Field[] = [{ field: 3, varint: 2 }],
  normalizer: Field[] = [{ field: 1, bytes: 'identity' }],
): Uint8Array {
  return encodeMessage([
    ...pieces.map((p) => ({
      field: 1,
      bytes: [
        { field: 1, bytes: p.piece },
        { field: 2, float: p.score ?? 0 },
        ...(p.type && p.type !== 'normal' ? [{ field: 3, varint: TYPE_CODES[p.type] }] : []),
      ],
    })),
    { field: 2, bytes: trainer },
    { field: 3, bytes: normalizer },
  ]);
}
