'use strict';
// Shared helpers for keygate's end-to-end tests: start/stop a real server on 127.0.0.1 with a
// throw-away database, run the CLI, call the REST API and the token endpoint, and check the
// shapes the spec (issue 2) fixes: error bodies, IDs, secrets and JWTs.  Every answer these
// helpers receive is held to doc/openapi.json (contract.js): one that does not match it fails
// the test that made the call.

const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const contract = require('./contract');

const BIN = process.env.KEYGATE_BIN || path.resolve(__dirname, '../../build/keygate');
const V1 = '/public/api/v1';

const CLIENT_ID_RE = /^kgc_[0-9A-Za-z]{16}$/;
const SECRET_RE = /^kgs_[0-9A-Za-z]{38}$/;
const ROLE_ID_RE = /^r-\d{10}$/;
const USER_ID_RE = /^u-\d{10}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const API_STATUSES = new Set(['RESOURCE_EXHAUSTED', 'UNAVAILABLE', 
  'PERMISSION_DENIED', 'INVALID_ARGUMENT', 'UNAUTHENTICATED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'FAILED_PRECONDITION', 'METHOD_NOT_ALLOWED', 'INTERNAL', 'ABORTED',
]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* A bound for a wait on something else (a child's exit): unlike sleep, the timer alone does
 * not keep the process alive, so a test file ends as soon as its last child has. */
const unrefSleep = (ms) => new Promise((r) => setTimeout(r, ms).unref());

/* Every server this process started; killed on exit even if a test or hook blew up. */
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/* A free TCP port on 127.0.0.1: bind port 0, read it, close. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/*
 * Starts `keygate --db DIR/keygate.db serve --listen 127.0.0.1:PORT [extra]` and waits (≤ 10 s)
 * for GET /healthz and for the "serving on" log line (logged once the first start has made
 * admin@localhost). Returns a handle; always call handle.stop() (in an `after` hook).
 * opts.dir reuses a directory (and database) instead of a fresh mkdtemp one; opts.env adds
 * environment variables.
 */
async function startServer(opts = {}) {
  assert.ok(fs.existsSync(BIN), `keygate binary not found at ${BIN} (set KEYGATE_BIN)`);
  const ownDir = !opts.dir;
  const dir = opts.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-e2e-'));
  const db = path.join(dir, 'keygate.db');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = ['--db', db, 'serve', '--listen', `127.0.0.1:${port}`, ...(opts.args || [])];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env || {}) } });
  live.add(proc);
  const out = { stdout: '', stderr: '' };
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { out.stdout += d; });
  proc.stderr.on('data', (d) => { out.stderr += d; });
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { exited = { code, signal }; live.delete(proc); resolve(exited); });
  });

  const handle = {
    proc, port, base, dir, db,
    get stdout() { return out.stdout; },
    get stderr() { return out.stderr; },
    get exited() { return exited; },
    alive() { return exited === null; },
    async stop() {
      try {
        if (exited === null) {
          proc.kill('SIGTERM');
          const t = await Promise.race([exitPromise, unrefSleep(5000).then(() => null)]);
          if (t === null && exited === null) {
            proc.kill('SIGKILL');
            await Promise.race([exitPromise, unrefSleep(2000)]);
          }
        }
      } finally {
        if (ownDir && !opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
        handle.stopped = true;
      }
      return exited;
    },
  };

  const deadline = Date.now() + 10000;
  let lastErr = null;
  // Below notice the "serving on" line is not logged: /healthz alone then.
  const quiet = args.some((a, i) => a === '--log-level' && /^(error|warning)$/.test(args[i + 1] || ''));
  while (Date.now() < deadline) {
    if (exited !== null) break;
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      const body = await r.text();
      if (r.status === 200 && (quiet || / serving on /.test(out.stderr))) {
        assert.deepEqual(JSON.parse(body), { status: 'ok' }, 'GET /healthz body');
        return handle;
      }
      lastErr = new Error(`healthz returned ${r.status}: ${body}`);
    } catch (e) {
      lastErr = e;
    }
    await sleep(50);
  }
  await handle.stop();
  throw new Error(`keygate did not become ready within 10 s (exit=${JSON.stringify(exited)}, ` +
    `last error=${lastErr && lastErr.message})\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`);
}

/*
 * The password of admin@localhost that a first start without a terminal generated: read from
 * the 0600 file beside the database, whose path the log names (the password itself is never
 * written to stdout or stderr).
 */
function adminPassword(srv) {
  const file = path.join(srv.dir, 'admin-password');
  assert.ok(srv.stderr.includes(file), `the log names ${file}:\n${srv.stderr}`);
  return fs.readFileSync(file, 'utf8').trim();
}

/* Runs `keygate --db DB ...args`. Returns {status, stdout, stderr}. Bounded to 20 s. */
function cli(db, args, opts = {}) {
  const r = spawnSync(BIN, ['--db', db, ...args], {
    encoding: 'utf8', timeout: 20000, env: { ...process.env, KEYGATE_DB: '' }, ...opts,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/* Runs a CLI command that must succeed (exit 0) and prints JSON; returns the parsed value. */
function cliJson(db, args) {
  const r = cli(db, args);
  assert.equal(r.status, 0, `keygate ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    assert.fail(`keygate ${args.join(' ')} did not print JSON: ${r.stdout}`);
  }
}

function parseMaybeJson(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

/*
 * REST call: api(base, 'GET', '/public/api/v1/apiToken', {token, body, headers, raw}).
 * body (any JSON value) is sent as application/json; raw (string|Buffer) is sent as-is with
 * whatever Content-Type headers give. Returns {status, headers, text, json}.
 */
async function api(base, method, p, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.token !== undefined && opts.token !== null) headers.Authorization = `Bearer ${opts.token}`;
  let body;
  if (opts.raw !== undefined) {
    body = opts.raw;
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/json';
    }
  }
  const r = await fetch(base + p, { method, headers, body, signal: AbortSignal.timeout(10000) });
  const text = await r.text();
  const res = { status: r.status, headers: r.headers, text, json: parseMaybeJson(text) };
  contract.assertAnswer(method, p, res);
  return res;
}

/* POST /oauth/v2/token with a raw form body and headers. */
async function tokenRequest(base, form, headers = {}) {
  const h = { 'Content-Type': 'application/x-www-form-urlencoded', ...headers };
  for (const k of Object.keys(h)) if (h[k] === null) delete h[k];
  const r = await fetch(`${base}/oauth/v2/token`, {
    method: 'POST', headers: h, body: form, signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  const res = { status: r.status, headers: r.headers, text, json: parseMaybeJson(text) };
  contract.assertAnswer('POST', '/oauth/v2/token', res);
  return res;
}

function basic(id, secret) {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

/* client_credentials exchange with HTTP Basic. Returns the raw response. */
function exchange(base, clientId, secret) {
  return tokenRequest(base, 'grant_type=client_credentials', { Authorization: basic(clientId, secret) });
}

/*
 * Exchange for a token the CLI just created: the running server learns of CLI writes within
 * 1 s (it polls the database), so retry a 401 for up to timeoutMs. Returns the last response.
 */
async function exchangeCliToken(base, clientId, secret, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await exchange(base, clientId, secret);
    if (r.status !== 401 || Date.now() >= deadline) return r;
    await sleep(50);
  }
}

/* Exchange that must succeed; returns the access token string. */
async function accessToken(base, clientId, secret) {
  const r = await exchange(base, clientId, secret);
  assert.equal(r.status, 200, `exchange for ${clientId} should succeed, got ${r.status} ${r.text}`);
  assert.equal(typeof r.json.access_token, 'string');
  return r.json.access_token;
}

/* Resolves with res once contract.check() has found it to agree with doc/openapi.json;
 * rejects with what is wrong otherwise. */
function settle(resolve, reject, method, p, res) {
  const wrong = contract.check(method, p, res);
  if (wrong) reject(new Error(`contract (doc/openapi.json): ${wrong}`));
  else resolve(res);
}

/*
 * A low-level request with node:http, for what fetch will not send: un-normalised paths
 * ("/a/../b"), arbitrary header bytes. Returns {status, headers, text, json} or {error}.
 */
function rawRequest(port, method, p, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path: p, headers, agent: false, timeout: 10000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        settle(resolve, reject, method, p, { status: res.statusCode, headers: res.headers, text, json: parseMaybeJson(text) });
      });
      res.on('error', (error) => resolve({ error }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ error }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/*
 * Sends a request over a plain socket with "Expect: 100-continue" and parses the response.
 * For huge bodies: the server may answer (413) on the headers alone and close, and a client
 * that keeps writing gets EPIPE and loses the answer; so the body is sent only after
 * "100 Continue" (or after 1 s of silence, as RFC 7231 §5.1.1 lets a client do).
 */
function socketRequest(port, method, p, headers, body) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let chunks = [];
    let done = false;
    let sent = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(continueTimer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      const sep = buf.indexOf('\r\n\r\n');
      if (sep < 0) { resolve({ error: error || new Error(`no HTTP response (${buf.length} bytes)`) }); return; }
      const lines = buf.subarray(0, sep).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      const hd = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) hd[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let bodyBuf = buf.subarray(sep + 4);
      if (hd['content-length'] !== undefined) bodyBuf = bodyBuf.subarray(0, Number(hd['content-length']));
      const text = bodyBuf.toString('utf8');
      settle(resolve, reject, method, p, { status: m ? Number(m[1]) : 0, headers: hd, text, json: parseMaybeJson(text) });
    };
    const timer = setTimeout(() => finish(new Error('timeout')), 10000);
    const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
    const sendBody = () => {
      if (sent || done) return;
      sent = true;
      sock.write(bytes, () => {});
    };
    const continueTimer = setTimeout(sendBody, 1000);
    sock.on('data', (d) => {
      chunks.push(d);
      let buf = Buffer.concat(chunks);
      if (/^HTTP\/1\.[01] 100 /.test(buf.subarray(0, 16).toString('latin1'))) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        buf = buf.subarray(end + 4);
        chunks = buf.length ? [buf] : [];
        sendBody();
      }
      const sep = buf.indexOf('\r\n\r\n');
      if (sep >= 0) {
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, sep).toString('latin1'));
        if (m && buf.length - sep - 4 >= Number(m[1])) finish();
      }
    });
    sock.on('end', () => finish());
    sock.on('close', () => finish());
    sock.on('error', (e) => { if (!chunks.length) finish(e); });
    const head = [`${method} ${p} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
    for (const [k, v] of Object.entries(headers || {})) head.push(`${k}: ${v}`);
    if (body !== undefined) head.push(`Content-Length: ${bytes.length}`, 'Expect: 100-continue');
    sock.write(`${head.join('\r\n')}\r\n\r\n`);
    if (body === undefined) sendBody();
  });
}

/* Asserts a REST error: HTTP status, JSON {code, message, status, details} with code == HTTP
 * status (the details' shapes are the contract's: contract.js). */
function assertApiError(res, httpStatus, status, what = '') {
  const ctx = `${what ? `${what}: ` : ''}got ${res.status} ${String(res.text).slice(0, 300)}`;
  assert.equal(res.status, httpStatus, `expected HTTP ${httpStatus}; ${ctx}`);
  assert.ok(res.json && typeof res.json === 'object' && !Array.isArray(res.json),
    `error body must be a JSON object; ${ctx}`);
  const ct = (res.headers.get ? res.headers.get('content-type') : res.headers['content-type']) || '';
  assert.match(ct, /^application\/json/, `error Content-Type should be application/json; ${ctx}`);
  assert.equal(res.json.code, httpStatus, `error body "code" must equal the HTTP status; ${ctx}`);
  assert.equal(typeof res.json.message, 'string', `error body needs a string "message"; ${ctx}`);
  assert.ok(res.json.message.length > 0, `error "message" should not be empty; ${ctx}`);
  assert.ok(API_STATUSES.has(res.json.status), `unknown error "status" ${res.json.status}; ${ctx}`);
  if (status) assert.equal(res.json.status, status, `error "status"; ${ctx}`);
  assert.ok(Array.isArray(res.json.details), `error body needs a "details" list; ${ctx}`);
}

/* Asserts an OAuth (RFC 6749 §5.2) error: HTTP status, JSON {"error": code, ...}. */
function assertOAuthError(res, httpStatus, error, what = '') {
  const ctx = `${what ? `${what}: ` : ''}got ${res.status} ${String(res.text).slice(0, 300)}`;
  assert.equal(res.status, httpStatus, `expected HTTP ${httpStatus}; ${ctx}`);
  assert.ok(res.json && typeof res.json === 'object' && !Array.isArray(res.json),
    `OAuth error body must be a JSON object; ${ctx}`);
  assert.equal(res.json.error, error, `OAuth "error"; ${ctx}`);
  if (res.json.error_description !== undefined) {
    assert.equal(typeof res.json.error_description, 'string', `error_description; ${ctx}`);
  }
  assert.equal(res.json.access_token, undefined, `an error must not carry an access token; ${ctx}`);
  if (httpStatus === 401) {
    const wa = res.headers.get ? res.headers.get('www-authenticate') : res.headers['www-authenticate'];
    assert.ok(wa, `401 from the token endpoint needs a WWW-Authenticate header; ${ctx}`);
  }
}

/* Asserts a REST 401 with a "WWW-Authenticate: Bearer ..." header. */
function assertUnauthenticated(res, what = '') {
  assertApiError(res, 401, 'UNAUTHENTICATED', what);
  const wa = res.headers.get ? res.headers.get('www-authenticate') : res.headers['www-authenticate'];
  assert.ok(wa && /^Bearer\b/i.test(wa),
    `${what}: 401 needs "WWW-Authenticate: Bearer ...", got ${JSON.stringify(wa)}`);
}

/* ---- secrets: base62 CRC-32 checksum ------------------------------------------------- */

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(str) {
  let c = 0xffffffff;
  for (const b of Buffer.from(str, 'utf8')) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/* CRC-32 (IEEE) as 6 base62 digits, most significant first. */
function base62Crc(str) {
  let v = crc32(str);
  let s = '';
  for (let i = 0; i < 6; i++) { s = B62[v % 62] + s; v = Math.floor(v / 62); }
  return s;
}

/* True when the secret has the documented shape and its last 6 chars check out. */
function secretChecksumOk(secret) {
  if (!SECRET_RE.test(secret)) return false;
  return secret.slice(36) === base62Crc(secret.slice(0, 36));
}

/* ---- JWT ----------------------------------------------------------------------------- */

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

function decodeJwt(jwt) {
  const parts = String(jwt).split('.');
  assert.equal(parts.length, 3, `a JWT has three parts: ${jwt}`);
  return { header: b64urlJson(parts[0]), payload: b64urlJson(parts[1]), signature: parts[2], parts };
}

function encodeJwtPart(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

/* Polls fn() (async, returns truthy when done) every intervalMs, up to timeoutMs. */
async function waitFor(fn, timeoutMs, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return { ok: true, value: last, elapsed: timeoutMs - (deadline - Date.now()) };
    if (Date.now() >= deadline) return { ok: false, value: last };
    await sleep(intervalMs);
  }
}

/* A list of RoleGrants (directlyGrantedRoles, allRoles) as [{roleId, roleName}], for comparing. */
function refs(grants) {
  return grants.map((g) => ({ roleId: g.roleId, roleName: g.roleName }));
}

/* Every page of a list, following nextPageToken (bounded to maxPages). */
async function listAll(base, token, p, pageSize = 100, maxPages = 50) {
  const pages = [];
  let pageToken = '';
  for (let i = 0; i < maxPages; i++) {
    const q = `?pageSize=${pageSize}${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`;
    const r = await api(base, 'GET', p + q, { token });
    assert.equal(r.status, 200, `GET ${p}${q}: ${r.status} ${r.text}`);
    pages.push(r.json);
    pageToken = r.json.nextPageToken;
    if (pageToken === '') return pages;
  }
  assert.fail(`GET ${p}: still a nextPageToken after ${maxPages} pages`);
}

function assertTokenShape(t, { withSecret = false } = {}) {
  const ctx = JSON.stringify(t);
  assert.match(t.clientId, CLIENT_ID_RE, `clientId shape: ${ctx}`);
  assert.equal(typeof t.description, 'string', `description: ${ctx}`);
  assert.match(t.roleId, ROLE_ID_RE, `roleId shape: ${ctx}`);
  assert.equal(typeof t.roleName, 'string', `roleName: ${ctx}`);
  assert.ok(t.status === 'Active' || t.status === 'Revoked', `status: ${ctx}`);
  assert.match(t.createdOn, TIME_RE, `createdOn: ${ctx}`);
  assert.equal(typeof t.createdBy, 'string', `createdBy: ${ctx}`);
  for (const k of ['lastAccessOn', 'revokedOn', 'expiresOn', 'secretsExpireOn']) {
    assert.ok(k in t, `token JSON must carry ${k} (null when unset): ${ctx}`);
    assert.ok(t[k] === null || TIME_RE.test(t[k]), `${k} must be null or a UTC time: ${ctx}`);
  }
  assert.ok(Number.isInteger(t.secretCount) && t.secretCount >= 0 && t.secretCount <= 5, `secretCount: ${ctx}`);
  assert.ok(t.rateLimit === null || (Number.isInteger(t.rateLimit.requests) && Number.isInteger(t.rateLimit.periodSeconds)),
    `rateLimit: null or {requests, periodSeconds}: ${ctx}`);
  assert.ok(Array.isArray(t.allowedCidrs) && t.allowedCidrs.every((x) => typeof x === 'string'), `allowedCidrs: ${ctx}`);
  if (withSecret) {
    assert.match(t.clientSecret, SECRET_RE, `clientSecret shape: ${ctx}`);
    assert.ok(secretChecksumOk(t.clientSecret), `clientSecret checksum: ${t.clientSecret}`);
  } else {
    assert.equal(t.clientSecret, undefined, `clientSecret must not be returned here: ${ctx}`);
  }
  assertNoSecretMaterial(t);
}

/* No field anywhere named like a hash or password hash, no "$argon2" strings. */
function assertNoSecretMaterial(value, where = '') {
  const text = JSON.stringify(value);
  assert.ok(!/\$argon2/i.test(text), `${where} response leaks an argon2 hash: ${text}`);
  const walk = (v) => {
    if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        assert.ok(!/hash/i.test(k), `${where} response has a "${k}" field: ${text}`);
        walk(x);
      }
    }
  };
  walk(value);
}

/*
 * POST `body` to port's `p` from the loopback source address `from` (Linux routes all of
 * 127/8 to lo, so the server sees each as a different client).  headers are added.
 * Resolves {status, headers (a Headers), text, json}.
 */
function postFrom(port, from, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const buf = Buffer.from(body);
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: p, localAddress: from, agent: false,
      timeout: 10000, headers: { 'Content-Length': buf.length, ...headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => settle(resolve, reject, 'POST', p, { status: res.statusCode, headers: new Headers(res.headers), text, json: parseMaybeJson(text) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(buf);
  });
}

/* `secret` with its last character changed: always wrong (never the secret itself, as a
 * fixed replacement character would be once in 62 times). */
function wrongSecret(secret) {
  return `${secret.slice(0, -1)}${secret.endsWith('x') ? 'y' : 'x'}`;
}

/* A bootstrap accountadmin token (via the CLI) and an access token for it. */
async function bootstrap(srv, description = 'boot') {
  const t = cliJson(srv.db, ['token', 'create', '--role', 'accountadmin', '--description', description, '--json']);
  const r = await exchangeCliToken(srv.base, t.clientId, t.clientSecret);
  assert.equal(r.status, 200, `exchange for the CLI-created ${t.clientId} within 2 s: ${r.status} ${r.text}`);
  return { ...t, access: r.json.access_token };
}

module.exports = {
  refs,
  BIN, V1, CLIENT_ID_RE, SECRET_RE, ROLE_ID_RE, USER_ID_RE, TIME_RE,
  sleep, unrefSleep, freePort, startServer, adminPassword, cli, cliJson, api, tokenRequest, basic, exchange, exchangeCliToken, accessToken,
  rawRequest, socketRequest, assertApiError, assertOAuthError, assertUnauthenticated, crc32, base62Crc,
  secretChecksumOk, decodeJwt, encodeJwtPart, waitFor, listAll, assertTokenShape,
  assertNoSecretMaterial, bootstrap, postFrom, wrongSecret,
};
