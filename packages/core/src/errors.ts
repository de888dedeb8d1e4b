/**
 * Typed errors. Every error the SDK throws on purpose is a `DbfError` with a `code` from a closed list,
 * so callers can branch on `error.code` instead of parsing messages. Errors are recognised across
 * duplicated package copies through a `Symbol.for` marker (see `DbfError.isInstance`).
 */

/** Validation failures of a DBF / safetensors file. Each one is documented in docs/format.md. */
export const FORMAT_ERROR_CODES = [
  'HEADER_TOO_SMALL',
  'HEADER_TOO_LARGE',
  'INVALID_HEADER',
  'DUPLICATE_KEY',
  'INVALID_TENSOR_INFO',
  'UNSUPPORTED_DTYPE',
  'VALIDATION_OVERFLOW',
  'SIZE_MISMATCH',
  'INVALID_OFFSET',
  'OVERLAPPING_TENSORS',
  'BUFFER_HOLE',
  'INVALID_METADATA',
  'UNSUPPORTED_VERSION',
  'INVALID_LAYER',
  'MISSING_TENSOR',
  'TENSOR_MISMATCH',
  'NONZERO_PADDING',
] as const;
export type FormatErrorCode = (typeof FORMAT_ERROR_CODES)[number];

export type DbfErrorCode =
  | FormatErrorCode
  | 'NOT_DBF'
  | 'TENSOR_NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'NO_BACKEND_AVAILABLE'
  | 'BACKEND_FAILURE'
  | 'UNSUPPORTED_OPERATION'
  | 'DISPOSED'
  | 'ABORTED'
  | 'IO_ERROR';

const MARKER = Symbol.for('dbf.error');

export class DbfError extends Error {
  readonly code: DbfErrorCode;
  /** Marker read by `isInstance`, shared by every copy of this package. */
  readonly [MARKER] = true;

  constructor(code: DbfErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbfError';
    this.code = code;
  }

  /** `instanceof` that also works when two copies of @dbf/core are loaded. */
  static isInstance(error: unknown): error is DbfError {
    return typeof error === 'object' && error !== null && MARKER in error;
  }
}

/** A caller passed a value that cannot work; the message says which argument and why. */
export class InvalidArgumentError extends DbfError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
    this.name = 'InvalidArgumentError';
  }
}

/** A file (or byte buffer) broke a rule of the format; `code` names the rule. */
export class FormatError extends DbfError {
  declare readonly code: FormatErrorCode | 'NOT_DBF' | 'TENSOR_NOT_FOUND' | 'IO_ERROR';
  constructor(
    code: FormatErrorCode | 'NOT_DBF' | 'TENSOR_NOT_FOUND' | 'IO_ERROR',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'FormatError';
  }
}

/** Why one backend candidate could not be used. */
export interface BackendUnavailableReason {
  readonly id: string;
  readonly reason: string;
}

/** No backend in the requested list could be created; `reasons` says why for each candidate. */
export class NoBackendAvailableError extends DbfError {
  readonly reasons: readonly BackendUnavailableReason[];
  constructor(reasons: readonly BackendUnavailableReason[], requested: string) {
    const lines = reasons.map((r) => `  [${r.id}] ${r.reason}`).join('\n');
    super(
      'NO_BACKEND_AVAILABLE',
      `No usable backend for device '${requested}'.${reasons.length ? `\n${lines}` : ' No backend factories were given.'}`,
    );
    this.name = 'NoBackendAvailableError';
    this.reasons = reasons;
  }
}

/** A backend failed while running a kernel (device lost, out of memory, unsupported shape...). */
export class BackendError extends DbfError {
  readonly backendId: string;
  constructor(
    backendId: string,
    code: 'BACKEND_FAILURE' | 'UNSUPPORTED_OPERATION' | 'DISPOSED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `[${backendId}] ${message}`, options);
    this.name = 'BackendError';
    this.backendId = backendId;
  }
}

/** Thrown when an `AbortSignal` fires during a long operation. */
export class AbortedError extends DbfError {
  constructor(message = 'The operation was aborted.', options?: { cause?: unknown }) {
    super('ABORTED', message, options);
    this.name = 'AbortedError';
  }
}
