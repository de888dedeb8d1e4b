/**
 * A conformance check failed: the backend broke the kernel contract. Deliberately not a `DbfError`, so
 * that a check which expects a `DbfError` from the backend never mistakes its own failure for one.
 */
export class ConformanceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConformanceError';
  }
}

/** One line describing a thrown value, for failure messages. */
export function describeThrown(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` (code ${code})` : ''}: ${error.message}`;
  }
  return `non-Error value ${String(error)}`;
}
