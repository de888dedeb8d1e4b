import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memorySource } from '@dbf/core';
import type { FileSystemAccess } from '../../src/index';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** ../shared next to the repository (override with DBF_SHARED_DIR). Model files are read from there, never copied. */
export const SHARED_DIR = process.env.DBF_SHARED_DIR ?? resolve(repoRoot, '../shared');

export const sharedPath = (...parts: string[]): string => join(SHARED_DIR, ...parts);
export const readShared = (...parts: string[]): Uint8Array =>
  new Uint8Array(readFileSync(sharedPath(...parts)));

export const SOTU_DIR = sharedPath('models', 'sotu-3m');
export const STORIES_DIR = sharedPath('models', 'stories260K');

/** Node's file system, reading whole files into memory sources. */
export const nodeFs: FileSystemAccess = {
  async kind(path) {
    try {
      const s = statSync(path);
      return s.isDirectory() ? 'directory' : s.isFile() ? 'file' : undefined;
    } catch {
      return undefined;
    }
  },
  async open(path) {
    return memorySource(new Uint8Array(readFileSync(path)));
  },
  async list(path) {
    return readdirSync(path);
  },
};

/** The held-out SOTU text (722 kB). */
export const sotuText = (): string => readFileSync(sharedPath('data', 'sotu', 'sotu-2001-2021.txt'), 'utf8');
