import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tooling/tsup-preset';

// The public types name GPUDevice, GPUAdapter...: point declaration consumers at @webgpu/types (a dependency).
export default defineConfig(libraryConfig({ dts: { banner: '/// <reference types="@webgpu/types" />' } }));
