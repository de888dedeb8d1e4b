/**
 * The typed message protocol between the page and its worker. The page sends `Request`s (each with an
 * id); the worker answers each with exactly one `Reply` carrying the same id, and pushes `WorkerEvent`s
 * (loading progress, streamed tokens, device loss) in between. Everything here is structured-clonable.
 */

/** The two model slots shown side by side. */
export type Slot = 'compressed' | 'reference';
export const SLOTS: readonly Slot[] = ['compressed', 'reference'];

export type BackendId = 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_IDS: readonly BackendId[] = ['webgpu', 'wasm', 'cpu'];
export type BackendChoice = 'auto' | BackendId;

/** Where a model's files come from: a folder served with the page, or files the user picked. */
export type ModelSource =
  | { readonly kind: 'url'; readonly base: string; readonly label: string }
  | { readonly kind: 'files'; readonly files: readonly File[]; readonly label: string };

export interface BackendStatus {
  readonly id: BackendId;
  readonly available: boolean;
  /** Why it cannot be used, or a caveat when it can (a software GPU adapter). */
  readonly note?: string;
}

export interface Environment {
  readonly backends: readonly BackendStatus[];
  readonly crossOriginIsolated: boolean;
  readonly hardwareConcurrency: number;
}

export interface ActiveBackend {
  readonly id: BackendId;
  /** The backend's own description: adapter, SIMD flavour, threads... */
  readonly description: string;
  readonly threads: number;
  /** What was asked for (`auto` resolves to `id`). */
  readonly choice: BackendChoice;
}

/** What the page shows about a loaded model. */
export interface ModelFacts {
  readonly label: string;
  readonly format: 'huggingface' | 'llama2c' | 'dbf';
  readonly layers: number;
  readonly dim: number;
  readonly hiddenDim: number;
  readonly heads: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly parameters: number;
  /** Bytes of the weight files as stored. */
  readonly fileBytes: number;
  /** The same parameters as float32. */
  readonly fp32Bytes: number;
  /** Linear layers stored compressed, and how many the model has. */
  readonly compressedLinears: number;
  readonly totalLinears: number;
  /** Bits per weight of the compressed linears (signs + scales as stored); undefined when none. */
  readonly compressedBitsPerWeight?: number;
  /** Bits per parameter over the whole file. */
  readonly overallBitsPerWeight: number;
  /** Middle dimension k (and envelope rank l) range over the compressed linears. */
  readonly rank?: { readonly min: number; readonly max: number };
  readonly envelopeRank?: number;
  readonly method?: string;
  /** Dtypes of the plain (uncompressed) tensors, e.g. ['F16']. */
  readonly plainDtypes: readonly string[];
  readonly hasTokenizer: boolean;
}

export interface GenerateParams {
  readonly runId: number;
  readonly slot: Slot;
  readonly prompt: string;
  readonly maxTokens: number;
  /** 0 = greedy. */
  readonly temperature: number;
  readonly topP: number;
  readonly seed: number;
}

export interface GenerateSummary {
  readonly runId: number;
  readonly slot: Slot;
  readonly ids: readonly number[];
  readonly text: string;
  readonly promptTokens: number;
  readonly timeToFirstTokenMs: number;
  readonly decodeTokensPerSecond: number;
  readonly totalMs: number;
  readonly stopReason: 'eos' | 'length' | 'context' | 'aborted';
  readonly backend: BackendId;
}

/** Request kinds, their parameters and the value of a successful reply. */
export interface Methods {
  /** Which backends this browser can run, and why not. */
  probe: { params: Record<string, never>; result: Environment };
  /** Makes `choice` the backend of both slots (re-uploading loaded models). */
  useBackend: { params: { choice: BackendChoice }; result: ActiveBackend };
  /** Reads a model folder into a slot and uploads it to the active backend. */
  load: { params: { slot: Slot; source: ModelSource }; result: ModelFacts };
  generate: { params: GenerateParams; result: GenerateSummary };
  /** Stops a running generation (its reply then says `aborted`). */
  cancel: { params: { runId: number }; result: boolean };
  /** Destroys the WebGPU device as a driver reset would, to show (and test) the recovery path. */
  simulateDeviceLoss: { params: Record<string, never>; result: boolean };
}
export type Method = keyof Methods;

export type Request = {
  [M in Method]: { readonly id: number; readonly method: M; readonly params: Methods[M]['params'] };
}[Method];

/** Error categories the page explains differently. */
export type ErrorKind =
  | 'model-load'
  | 'device-lost'
  | 'out-of-memory'
  | 'backend'
  | 'invalid-input'
  | 'other';

export interface ErrorInfo {
  readonly kind: ErrorKind;
  readonly title: string;
  readonly message: string;
  /** What the user can do about it. */
  readonly hint?: string;
  /** DbfError code, when there is one. */
  readonly code?: string;
}

export type Reply =
  | { readonly type: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: 'reply'; readonly id: number; readonly ok: false; readonly error: ErrorInfo };

export type WorkerEvent =
  | {
      readonly type: 'progress';
      readonly slot: Slot;
      readonly stage: 'download' | 'parse' | 'upload';
      readonly loaded: number;
      readonly total: number;
    }
  | {
      readonly type: 'token';
      readonly runId: number;
      readonly slot: Slot;
      readonly id: number;
      readonly text: string;
      /** Tokens generated so far, and timings measured in the worker. */
      readonly count: number;
      readonly timeToFirstTokenMs: number;
      readonly tokensPerSecond: number;
    }
  | { readonly type: 'device-lost'; readonly error: ErrorInfo }
  | { readonly type: 'fatal'; readonly error: ErrorInfo };

export type FromWorker = Reply | WorkerEvent;
