/**
 * DBF and MDBF factorization (algorithms.md §1.5, §2.4–2.5) and baselines, on top of the kernel contract.
 */

export { type BaselineResult, rtnBaseline, svdBaseline, svidBaseline } from './baselines';
export { factorizeDbf } from './dbf';
export { factorizeMdbf } from './mdbf';
export { reconstructWeight, relativeError } from './reconstruct';
export type {
  DbfResult,
  DenseMatrix,
  FactorizeOptions,
  FactorizeProgress,
  MdbfOptions,
  MdbfResult,
} from './types';
