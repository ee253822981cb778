// Shared by tests/docs/*.test.mjs (not a test file itself): the tree's top, the e2e helpers,
// and which(program).

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const h = require('../e2e/helpers.js');

/* The top of keygate's tree. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/* The full path of program on PATH (or in the sbin folders, for nginx), or null. */
export function which(program) {
  const dirs = [...(process.env.PATH || '').split(':'), '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    const p = path.join(d || '.', program);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* not here */ }
  }
  return null;
}
