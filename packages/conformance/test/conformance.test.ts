import { describeKernelConformance, GOLDEN_LINEAR_VECTORS } from '../src/index';
import { HAND_VECTOR, openWithHandVector } from './golden-fixture';
import { naiveBackendFactory } from './naive-backend';

// The straightforward float64 backend must pass every case, the bundled golden vectors included.
describeKernelConformance({
  name: 'naive float64 test backend',
  factory: naiveBackendFactory(),
  goldenVectors: [...GOLDEN_LINEAR_VECTORS, HAND_VECTOR],
  openGolden: openWithHandVector,
  summary: false,
});
