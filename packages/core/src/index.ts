/**
 * @dbf/core — layer types, bits-per-weight accounting, the DBF file format (safetensors-based) and the
 * kernel contract that backends implement. No Node built-ins: runs in browsers and Node alike.
 */
export * from './errors';
export * from './layers/types';
export * from './layers/packed-signs';
export * from './layers/validate-layer';
export * from './layers/dequantize';
export * from './layers/bits-per-weight';
export * from './kernel/kernel-backend';
export * from './kernel/check-request';
export * from './kernel/select-backend';
export * from './io/byte-source';
export * from './util/random';
export * from './util/float16';
export { assertInteger, assertFloat32Array, assertFinite, checkedProduct } from './util/assert';
