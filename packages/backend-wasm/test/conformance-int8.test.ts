import { describeKernelConformance } from '@dbf/conformance';
import { wasm } from '../src/index';

describeKernelConformance({
  name: 'wasm int8 (T-MAC tables), 1 thread',
  factory: wasm({ variant: 'int8', threads: 1 }),
});
