import { DbfError } from '@dbf/core';
import type { ErrorInfo } from '../protocol';

/** What was being done when the error happened: it decides how a DbfError is explained. */
export type ErrorContext = 'load' | 'backend' | 'generate';

const OUT_OF_MEMORY =
  /out of memory|allocation failed|could not allocate|cannot allocate|maximum memory size|invalid typed array length|array buffer allocation/i;
const DEVICE_LOST = /device (was|is) lost|device lost/i;

/**
 * Turns any thrown value into the message the page shows: a category, a title, the error's own text
 * and what to try next. Out-of-memory and device loss are recognised by their messages because they
 * reach us as plain RangeErrors, WebAssembly traps or wrapped GPU errors.
 */
export function describeError(error: unknown, context: ErrorContext): ErrorInfo {
  const message = error instanceof Error ? error.message : String(error);
  const code = DbfError.isInstance(error) ? error.code : undefined;
  const withCode = code ? { code } : {};
  if (DEVICE_LOST.test(message)) {
    return {
      kind: 'device-lost',
      title: 'The WebGPU device was lost',
      message,
      hint: 'The GPU driver reset or the device was destroyed. Select a backend again to re-create it, or switch to WASM or JS.',
      ...withCode,
    };
  }
  if (OUT_OF_MEMORY.test(message) || (error instanceof RangeError && /memory|buffer/i.test(message))) {
    return {
      kind: 'out-of-memory',
      title: 'Out of memory',
      message,
      hint: 'The model does not fit in the memory this backend may use. Try a smaller or more compressed model, close other tabs, or switch backend.',
      ...withCode,
    };
  }
  if (code === 'NO_BACKEND_AVAILABLE' || code === 'BACKEND_FAILURE' || code === 'UNSUPPORTED_OPERATION') {
    return {
      kind: 'backend',
      title: 'The backend failed',
      message,
      hint: 'Pick another backend (auto chooses the best available).',
      ...withCode,
    };
  }
  if (context === 'load') {
    return {
      kind: 'model-load',
      title: 'The model could not be loaded',
      message,
      hint: 'A model folder needs config.json, model.safetensors (plain or DBF-compressed) and tokenizer.model. Pick the whole folder, or those files together.',
      ...withCode,
    };
  }
  if (code === 'INVALID_ARGUMENT')
    return { kind: 'invalid-input', title: 'Invalid input', message, ...withCode };
  return { kind: 'other', title: 'Something went wrong', message, ...withCode };
}
