'use strict';
// keygate nodes on one throw-away PostgreSQL database, for the tests in tests/pg: the cluster
// is started with scripts/pg.sh (stopped by stop(), also on failure when called from an
// `after` hook), and every node shares the database, the key directory and the issuer, as the
// nodes of one deployment behind a load balancer do.

const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('../e2e/helpers.js');

const PG = path.join(__dirname, '..', '..', 'scripts', 'pg.sh');
const ISSUER = 'https://keygate.example';

/* Starts a cluster in a new temporary directory with a database "kg"; returns
 * {tmp, pgDir, pgPort, uri, keysDir, cli(args), stop()}. */
async function startCluster() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-pg-'));
  const pgDir = path.join(tmp, 'pg');
  const pgPort = await h.freePort();
  const admin = execFileSync(PG, ['start', pgDir, String(pgPort)], { encoding: 'utf8', timeout: 60000 }).trim();
  execFileSync('psql', [admin, '-qc', 'CREATE DATABASE kg'], { timeout: 20000 });
  const keysDir = path.join(tmp, 'keys');
  fs.mkdirSync(keysDir, { mode: 0o700 });
  const c = { tmp, pgDir, pgPort, uri: admin.replace(/\/postgres$/, '/kg'), keysDir };
  c.cli = (args) => execFileSync(h.BIN, ['--db', c.uri, '--keys-dir', keysDir, ...args], { encoding: 'utf8', timeout: 20000 });
  c.stop = () => {
    try { execFileSync(PG, ['stop', pgDir], { timeout: 60000 }); } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  };
  return c;
}

/* Starts a keygate node named `name` on cluster c (extra: more serve options) and waits (≤ 15 s)
 * for its /healthz; returns {name, base, proc, exited (a promise), stderr}. */
async function startNode(c, name, extra = []) {
  const port = await h.freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(h.BIN, ['--db', c.uri, '--keys-dir', c.keysDir, 'serve', '--listen', `127.0.0.1:${port}`,
    '--issuer', ISSUER, '--jwks-max-age', '1', ...extra], // a rotated key signs 1 s + 5 s after it is published
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr += d; });
  proc.stdout.resume();
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const ok = await h.waitFor(async () => {
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      return r.status === 200 ? r : null;
    } catch { return null; }
  }, 15000, 100);
  assert.ok(ok.ok, `node ${name} did not start: ${stderr}`);
  return { name, base, proc, exited, get stderr() { return stderr; } };
}

/* Stops node n (SIGTERM); resolves once it has exited, or after 10 s. */
async function stopNode(n) {
  if (!n || n.proc.exitCode !== null) return;
  n.proc.kill('SIGTERM');
  await Promise.race([n.exited, h.unrefSleep(10000)]);
}

module.exports = { PG, startCluster, startNode, stopNode };
