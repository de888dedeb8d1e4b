import { type Availability, BackendError } from '@dbf/core';
import { BufferUsage, MapMode, WORKGROUP_SIZE } from './gpu-constants';
import { defaultGpu, type WebGpuBackendOptions } from './options';
import { SUBGROUP_PROBE_WGSL } from './wgsl/sign-kernels';

/** What the backend reports about its adapter (a plain snapshot of `GPUAdapterInfo`). */
export interface WebGpuAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter: boolean;
  readonly subgroupMinSize?: number;
  readonly subgroupMaxSize?: number;
}

export interface AcquiredDevice {
  readonly device: GPUDevice;
  /** True when the backend created the device and must destroy it on dispose. */
  readonly ownsDevice: boolean;
  readonly adapterInfo: WebGpuAdapterInfo;
  /** Lanes per row for the GEMV kernels when they reduce with subgroupAdd; 0 when they use workgroup memory. */
  readonly subgroupLanes: number;
  /** Why subgroups are not used (shown in the backend description); undefined when they are. */
  readonly subgroupNote?: string;
}

const ID = 'webgpu';

/** Storage buffers bound by the widest kernel (signs, x, y, pre, post, bias). */
const STORAGE_BUFFERS_NEEDED = 6;
/** Workgroup memory of the largest kernel variant, rounded up to the WebGPU default limit. */
const WORKGROUP_STORAGE_NEEDED = 16_384;

function snapshotInfo(info: GPUAdapterInfo | undefined, fallbackFlag?: boolean): WebGpuAdapterInfo {
  const i = (info ?? {}) as Partial<GPUAdapterInfo>;
  return {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    isFallbackAdapter: Boolean(i.isFallbackAdapter ?? fallbackFlag),
    ...(typeof i.subgroupMinSize === 'number' ? { subgroupMinSize: i.subgroupMinSize } : {}),
    ...(typeof i.subgroupMaxSize === 'number' ? { subgroupMaxSize: i.subgroupMaxSize } : {}),
  };
}

function adapterInfoOf(adapter: GPUAdapter): WebGpuAdapterInfo {
  // `isFallbackAdapter` moved from the adapter to its info; read both for older implementations.
  return snapshotInfo(adapter.info, (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter);
}

export function describeAdapter(info: WebGpuAdapterInfo): string {
  const name =
    [info.vendor, info.architecture, info.device || info.description].filter(Boolean).join(' ') ||
    'unknown adapter';
  return info.isFallbackAdapter ? `${name} (software fallback adapter)` : name;
}

async function requestAdapter(options: WebGpuBackendOptions): Promise<GPUAdapter | string> {
  if (options.adapter) return options.adapter;
  const gpu = options.gpu ?? defaultGpu();
  if (!gpu || typeof gpu.requestAdapter !== 'function') {
    return 'WebGPU is not available here: navigator.gpu is undefined. In Node pass { gpu: create([]) } from the "webgpu" package; in Chromium on Linux WebGPU may need --enable-unsafe-webgpu.';
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(
      options.powerPreference ? { powerPreference: options.powerPreference } : undefined,
    );
  } catch (error) {
    return `requestAdapter() failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (!adapter) {
    return 'requestAdapter() returned null: no WebGPU adapter (no GPU driver, or WebGPU is disabled; on Linux without a GPU install a Vulkan driver such as SwiftShader and set VK_ICD_FILENAMES).';
  }
  return adapter;
}

function fallbackRefusal(info: WebGpuAdapterInfo): string {
  return `The only WebGPU adapter is a software fallback (${describeAdapter(info)}), slower than the CPU backends; pass allowFallbackAdapter: true to use it anyway (e.g. for tests).`;
}

/** Cheap feature detection for `isAvailable()`: an adapter (or an injected device) exists and is acceptable. */
export async function probeAvailability(options: WebGpuBackendOptions): Promise<Availability> {
  if (options.device) return { available: true };
  const adapter = await requestAdapter(options);
  if (typeof adapter === 'string') return { available: false, reason: adapter };
  const info = adapterInfoOf(adapter);
  if (info.isFallbackAdapter && !options.allowFallbackAdapter)
    return { available: false, reason: fallbackRefusal(info) };
  if (options.subgroups === 'require' && !adapter.features.has('subgroups')) {
    return {
      available: false,
      reason: `subgroups: 'require' was given, but ${describeAdapter(info)} lacks the 'subgroups' feature.`,
    };
  }
  return { available: true };
}

function unsupported(message: string): BackendError {
  return new BackendError(ID, 'UNSUPPORTED_OPERATION', message);
}

function checkLimits(device: GPUDevice, info: WebGpuAdapterInfo): void {
  const l = device.limits;
  const problems: string[] = [];
  if (l.maxComputeInvocationsPerWorkgroup < WORKGROUP_SIZE)
    problems.push(
      `maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup} < ${WORKGROUP_SIZE}`,
    );
  if (l.maxComputeWorkgroupSizeX < WORKGROUP_SIZE)
    problems.push(`maxComputeWorkgroupSizeX ${l.maxComputeWorkgroupSizeX} < ${WORKGROUP_SIZE}`);
  if (l.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS_NEEDED) {
    problems.push(
      `maxStorageBuffersPerShaderStage ${l.maxStorageBuffersPerShaderStage} < ${STORAGE_BUFFERS_NEEDED}`,
    );
  }
  if (l.maxComputeWorkgroupStorageSize < WORKGROUP_STORAGE_NEEDED) {
    problems.push(
      `maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize} < ${WORKGROUP_STORAGE_NEEDED}`,
    );
  }
  if (problems.length) {
    throw unsupported(
      `The WebGPU device on ${describeAdapter(info)} is below the limits the kernels need (${problems.join('; ')}); this happens with compatibility-mode devices. Use the wasm or cpu backend.`,
    );
  }
}

/**
 * Runs a one-workgroup probe recording each invocation's subgroup lane and size. The GEMV reduction
 * indexes subgroups as `local_invocation_index / subgroup_size`, which WGSL does not promise, so it is
 * used only where the probe shows contiguous subgroups of one power-of-two size in [4, lanes].
 */
async function probeSubgroups(device: GPUDevice, lanes: number): Promise<string | undefined> {
  const module = device.createShaderModule({ code: SUBGROUP_PROBE_WGSL });
  const pipeline = await device.createComputePipelineAsync({
    layout: 'auto',
    compute: { module, entryPoint: 'main' },
  });
  const bytes = 2 * WORKGROUP_SIZE * 4;
  const out = device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  try {
    const group = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: out } }],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(1);
    pass.end();
    encoder.copyBufferToBuffer(out, 0, read, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(MapMode.READ);
    const v = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    const size = v[WORKGROUP_SIZE]!;
    if (!(size >= 4 && size <= lanes && (size & (size - 1)) === 0))
      return `subgroup size ${size} is outside [4, ${lanes}] or not a power of two`;
    for (let i = 0; i < WORKGROUP_SIZE; i++) {
      if (v[WORKGROUP_SIZE + i] !== size || v[i] !== i % size)
        return 'subgroups are not contiguous in local_invocation_index';
    }
    return undefined;
  } finally {
    out.destroy();
    read.destroy();
  }
}

/** Gets (or adopts) the device, checks limits and decides on subgroups. */
export async function acquireDevice(options: WebGpuBackendOptions): Promise<AcquiredDevice> {
  let device: GPUDevice;
  let info: WebGpuAdapterInfo;
  let ownsDevice: boolean;
  if (options.device) {
    device = options.device;
    ownsDevice = false;
    info = snapshotInfo((device as { adapterInfo?: GPUAdapterInfo }).adapterInfo);
  } else {
    const adapter = await requestAdapter(options);
    if (typeof adapter === 'string') throw unsupported(adapter);
    info = adapterInfoOf(adapter);
    if (info.isFallbackAdapter && !options.allowFallbackAdapter) throw unsupported(fallbackRefusal(info));
    const features = new Set<GPUFeatureName>(options.requiredFeatures ?? []);
    for (const f of features) {
      if (!adapter.features.has(f))
        throw unsupported(`requiredFeatures names '${f}', which ${describeAdapter(info)} does not support.`);
    }
    if (options.subgroups !== 'off' && adapter.features.has('subgroups')) features.add('subgroups');
    const a = adapter.limits;
    try {
      device = await adapter.requestDevice({
        requiredFeatures: [...features],
        // The defaults (128 MiB bindings) are far below what adapters offer; large layers need more.
        requiredLimits: {
          maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
          maxBufferSize: a.maxBufferSize,
          maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
        },
      });
    } catch (error) {
      throw new BackendError(
        ID,
        'BACKEND_FAILURE',
        `requestDevice() failed on ${describeAdapter(info)}: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
    ownsDevice = true;
  }
  try {
    checkLimits(device, info);
    let subgroupLanes = 0;
    let subgroupNote: string | undefined;
    if (options.subgroups === 'off') subgroupNote = 'subgroups turned off by option';
    else if (!device.features.has('subgroups')) subgroupNote = "the device has no 'subgroups' feature";
    else {
      const lanes = Math.max(32, info.subgroupMaxSize ?? 32);
      subgroupNote = await probeSubgroups(device, lanes);
      if (subgroupNote === undefined) subgroupLanes = lanes;
    }
    if (options.subgroups === 'require' && subgroupLanes === 0) {
      throw unsupported(
        `subgroups: 'require' was given, but subgroups cannot be used on ${describeAdapter(info)}: ${subgroupNote}.`,
      );
    }
    return {
      device,
      ownsDevice,
      adapterInfo: info,
      subgroupLanes,
      ...(subgroupNote ? { subgroupNote } : {}),
    };
  } catch (error) {
    if (ownsDevice) device.destroy();
    throw error;
  }
}
