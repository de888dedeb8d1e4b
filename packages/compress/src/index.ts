/**
 * @dbf/compress — whole-model compression for the dbf SDK: calibration statistics, sequential decoder-layer
 * by decoder-layer DBF/MDBF with teacher and student activation streams, uniform or non-uniform (measured)
 * bit allocation, and the compressed model's files (DBF v1 weights with Hugging Face names, config, model
 * card). No Node built-ins: the CLI (`dbf compress`) does the file work.
 */
export {
  type AllocationLayer,
  allocateRanks,
  type CurvePoint,
  type LayerCurve,
  layerBits,
  maxRank,
  predictedLoss,
  uniformRanks,
} from './allocation';
export {
  type CalibrationSet,
  type CalibrationTextOptions,
  calibrationFromModel,
  calibrationFromText,
  type GeneratedCalibrationOptions,
  InputMoments,
  momentsObserver,
} from './calibration';
export { decodeCheckpointLayer, encodeCheckpointLayer } from './checkpoint-codec';
export {
  COMPRESSION_METHODS,
  type CompressedLinear,
  type CompressionMethod,
  type CompressLinearOptions,
  compressLinear,
  type LinearTarget,
  storedBpw,
} from './compress-linear';
export {
  type AllocationMode,
  type AllocationRecord,
  type CompressEvent,
  type CompressionCheckpoint,
  type CompressModelOptions,
  type CompressModelResult,
  compressModel,
  type LayerReport,
} from './compress-model';
export {
  bpwByRole,
  compressedConfigJson,
  encodeModelFile,
  type ModelCardInput,
  type ModelFileOptions,
  modelCard,
  type PlainDtype,
} from './model-output';
