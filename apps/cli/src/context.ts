/** What a command needs from its surroundings; tests pass their own to capture output. */
export interface CliContext {
  /** Writes a line (or more) to standard output. */
  out(text: string): void;
  /** Writes a line (or more) to standard error. */
  err(text: string): void;
  /** Writes raw text to standard output, without a newline (streamed tokens). Optional: `out` is the fallback. */
  write?(text: string): void;
  /** Cancels long commands (compress) like Ctrl-C does; tests use it to interrupt a run. */
  readonly signal?: AbortSignal;
  /** The arguments as given (set by `main`), e.g. for the model card's "how it was made". */
  readonly argv?: readonly string[];
}

export const processContext: CliContext = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  write: (text) => process.stdout.write(text),
};

/** A failure the command has already explained; `exitCode` says how the process should end. */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
