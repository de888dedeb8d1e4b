import { describeKernelConformance } from '@dbf/conformance';
import { wasm } from '../src/node';

// worker_threads over shared memory: the int8 and the exact kernels with 3 threads (more threads than
// the test machine's cores, so chunks are also claimed around descheduled threads).
describeKernelConformance({
  name: 'wasm int8, 3 threads',
  factory: wasm({ variant: 'int8', threads: 3, parallelThresholdMicroseconds: 0 }),
});
describeKernelConformance({
  name: 'wasm exact, 3 threads',
  factory: wasm({ variant: 'exact', threads: 3, parallelThresholdMicroseconds: 0 }),
});
