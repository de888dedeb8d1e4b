/**
 * @dbf/core — layer types, bits-per-weight accounting, the DBF file format (safetensors-based) and the
 * kernel contract that backends implement. No Node built-ins: runs in browsers and Node alike.
 */
export * from './errors';
export * from './factorize/index';
export * from './format/index';
export * from './io/byte-source';
export * from './kernel/check-request';
export * from './kernel/kernel-backend';
export * from './kernel/select-backend';
export * from './layers/bits-per-weight';
export * from './layers/dequantize';
export * from './layers/packed-signs';
export * from './layers/types';
export * from './layers/validate-layer';
export * from './linalg/index';
export { assertFinite, assertFloat32Array, assertInteger, checkedProduct } from './util/assert';
export * from './util/float16';
export * from './util/random';
