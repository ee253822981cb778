'use strict';
// A clean stop saves the server's view of the tokens next to the database (keygate.db.view),
// and the next start reads it back with whatever the database got in between.  The database
// stays the truth: a start on a database restored from a backup made before the save loads
// it in full, and answers as that database says.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers.js');

const SAVED = / saved the view in \d+ ms, for the next start/;
const FROM_SAVED = / loaded the database in \d+ ms \(from the view saved at the last stop, and the changes since\)/;

async function stopped(srv) {
  const e = await srv.stop();
  assert.deepEqual(e, { code: 0, signal: null }, srv.stderr);
  assert.match(srv.stderr, SAVED);
}

const status = async (srv, t) => (await h.exchange(srv.base, t.clientId, t.clientSecret)).status;

test('a stop saves the view and the next start reads it, with what changed while no server ran; a database restored from before the save is read in full', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-restart-'));
  const db = path.join(dir, 'keygate.db'), saved = `${db}.view`;
  const make = () => h.cliJson(db, ['token', 'create', '--role', 'public', '--json']);
  try {
    // first start: a full load (there is no saved view yet)
    let srv = await h.startServer({ dir });
    assert.doesNotMatch(srv.stderr, FROM_SAVED);
    const boot = await h.bootstrap(srv, 'restart');
    const [a, b, c] = [make(), make(), make()];
    for (const t of [a, b, c]) assert.equal((await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret)).status, 200);
    // a backup, then b revoked on the API: the backup still holds b Active
    const backup = path.join(dir, 'backup.db');
    const bk = spawnSync('sqlite3', [db, `.backup '${backup}'`], { encoding: 'utf8', timeout: 20000 });
    assert.equal(bk.status, 0, bk.stderr);
    const rv = await h.api(srv.base, 'POST', `${h.V1}/apiToken/${b.clientId}:revoke`, { token: boot.access });
    assert.equal(rv.status, 200, rv.text);
    await stopped(srv);
    assert.equal(fs.statSync(saved).mode & 0o077, 0, 'the saved view is for keygate\'s user alone (it holds secret hashes)');

    // while no server runs: a revoke and a new token at the CLI
    assert.equal(h.cli(db, ['token', 'revoke', a.clientId]).status, 0);
    const d = make();

    // second start: from the saved view, with both changes; the file is read once
    srv = await h.startServer({ dir });
    assert.match(srv.stderr, FROM_SAVED);
    assert.ok(!fs.existsSync(saved), 'the saved view is removed once read');
    assert.equal(await status(srv, a), 401, 'revoked at the CLI while stopped');
    assert.equal(await status(srv, b), 401, 'revoked before the stop');
    assert.equal(await status(srv, c), 200);
    assert.equal(await status(srv, d), 200, 'made at the CLI while stopped: known at once');
    // (each start has a port of its own, and so an issuer: a new access token)
    const access = await h.accessToken(srv.base, boot.clientId, boot.clientSecret);
    const list = await h.api(srv.base, 'GET', `${h.V1}/apiToken/${a.clientId}`, { token: access });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.status, 'Revoked');
    await stopped(srv);

    // the backup restored: not the data the view was saved from, so a full load, as it says
    for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
    fs.copyFileSync(backup, db);
    srv = await h.startServer({ dir });
    assert.doesNotMatch(srv.stderr, FROM_SAVED);
    assert.match(srv.stderr, /the view saved at the last stop was not read: it was saved from other data/);
    assert.equal(await status(srv, a), 200, 'Active in the backup');
    assert.equal(await status(srv, b), 200, 'Active in the backup');
    assert.equal(await status(srv, c), 200);
    assert.equal(await status(srv, d), 401, 'made after the backup');
    await stopped(srv);

    // a crash leaves no saved view behind: the next start loads in full, and right
    srv = await h.startServer({ dir });
    assert.match(srv.stderr, FROM_SAVED);
    srv.proc.kill('SIGKILL');
    await srv.stop();
    assert.ok(!fs.existsSync(saved));
    assert.equal(h.cli(db, ['token', 'revoke', c.clientId]).status, 0);
    srv = await h.startServer({ dir });
    assert.doesNotMatch(srv.stderr, FROM_SAVED);
    assert.equal(await status(srv, c), 401);
    assert.equal(await status(srv, a), 200);
    await srv.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
