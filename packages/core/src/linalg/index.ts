/**
 * Dense linear algebra for the factorization algorithms, written once on top of the kernel contract:
 * GEMM-heavy steps call `KernelBackend.gemm`, so a faster backend speeds everything up; small O(k²)
 * work runs in float64 JS.
 */
export {
  CholeskySolver,
  type CholeskySolverOptions,
  choleskyInPlace,
  choleskySolveInPlace,
} from './cholesky';
export { type PowerIterationOptions, powerIteration, type SingularTriplet } from './power-iteration';
export { householderQr, orthonormalize, type ThinQr } from './qr';
export { type Svd, svdJacobi } from './svd';
export { type SymmetricEigen, symmetricEigen } from './symmetric-eigen';
export {
  type SubspaceIterationOptions,
  subspaceIteration,
  type TruncatedSvd,
  type TruncatedSvdOptions,
  truncatedSvd,
} from './truncated-svd';
