/**
 * @dbf/node — Node.js file IO for DBF files: a file-backed ByteSource, atomic writes, and
 * saveDbfFile / openDbfFile on top of @dbf/core's format reader and writer.
 */

export { openDbfFile, saveDbfFile } from './dbf-file';
export { type FileSource, fileSource } from './file-source';
export { writeFileAtomic } from './write-file-atomic';
