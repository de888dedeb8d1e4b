import { DbfError } from '@dbf/core';

/**
 * The model is well-formed but uses something this runtime does not implement (another architecture,
 * RoPE scaling, biases, a unigram tokenizer...). The message names the feature and the file it came from.
 * Its `code` is `UNSUPPORTED_OPERATION`; malformed files throw core's `FormatError` instead.
 */
export class UnsupportedModelError extends DbfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNSUPPORTED_OPERATION', message, options);
    this.name = 'UnsupportedModelError';
  }
}
