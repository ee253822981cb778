'use strict';
// What keygate leaves on disk is for its own user alone: the database (with its WAL), the
// client-secret hash key and the signing key.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers.js');

test('the data directory, database and key files are private (0700 / 0600)', async () => {
  const srv = await h.startServer();
  try {
    await h.bootstrap(srv, 'files'); // a write, so the WAL exists too
    const dir = path.dirname(srv.db);
    const names = fs.readdirSync(dir);
    for (const n of ['keygate.db', 'hash.key', 'signing.key']) assert.ok(names.includes(n), `${n} in ${names}`);
    for (const n of names) {
      const st = fs.statSync(path.join(dir, n));
      if (st.isFile()) assert.equal(st.mode & 0o077, 0, `${n} is mode ${(st.mode & 0o777).toString(8)}`);
    }
  } finally {
    await srv.stop();
  }
});
