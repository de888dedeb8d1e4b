import { describeKernelConformance } from '@dbf/conformance';
import { cpu } from '../src/index';

// The shared kernel conformance suite (golden vectors, random shapes against float64 references, guard
// words, contract and lifecycle rules), run against this backend with no skips.
describeKernelConformance({ name: '@dbf/backend-cpu', factory: cpu() });
