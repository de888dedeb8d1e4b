import { describeKernelConformance } from '@dbf/conformance';
import { wasm } from '../src/index';

describeKernelConformance({
  name: 'wasm exact (f32 mask-and-add), 1 thread',
  factory: wasm({ variant: 'exact', threads: 1 }),
});
