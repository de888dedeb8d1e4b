/**
 * @dbf/conformance — the kernel conformance suite every dbf backend runs (docs/kernels.md):
 * golden vectors, random shapes against float64 references, guard words around every output, and
 * the contract's error and lifecycle rules. `describeKernelConformance` wires the checks into vitest;
 * the checks and references are exported for other harnesses.
 */

export { decodeBase64 } from './base64';
export {
  CONFORMANCE_GROUPS,
  type ConformanceCase,
  type ConformanceCaseOptions,
  type ConformanceGroup,
  type ConformanceResult,
  type ConformanceSkip,
  type ConformanceStatus,
  kernelConformanceCases,
  runKernelConformance,
  skipReason,
  summarizeResults,
  validateSkips,
} from './cases';
export * from './checks/assertions';
export * from './checks/contract-checks';
export * from './checks/golden-checks';
export * from './checks/guarded-call';
export * from './checks/kernel-checks';
export * from './conformance-error';
export { describeKernelConformance, type KernelConformanceOptions } from './describe-kernel-conformance';
export { GOLDEN_LINEAR_VECTORS } from './golden.generated';
export * from './guards';
export { nmse } from './nmse';
export * from './random-layers';
export * from './reference';
