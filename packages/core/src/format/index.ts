export * from './dbf-layer-record';
export * from './dtypes';
export * from './encode-dbf';
export {
  type EncodedFile,
  type EncodeSafetensorsOptions,
  encodedToBytes,
  encodeSafetensors,
  type SafetensorsTensorInput,
} from './encode-safetensors';
export * from './open-dbf';
export {
  DEFAULT_MAX_HEADER_SIZE,
  openSafetensors,
  parseSafetensorsHeader,
  readHeaderLength,
  type SafetensorsFile,
  type SafetensorsHeader,
  type SafetensorsOptions,
  type TensorData,
  type TensorInfo,
} from './open-safetensors';
export * from './parse-strict-json';
