// Shared helpers for tests/interop/*.test.mjs (not a test file itself): a keygate per signing
// algorithm with an admin and a client, the shape of each algorithm's JWKS key, and runners
// for the client programs beside this file (pyclient.py under Debian's /usr/bin/python3,
// goclient.go built with Debian's Go in GOPATH mode).  Every child process is bounded in time.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { h, makeRole, makeToken } from '../standards/lib.mjs';

const { V1, api, bootstrap, startServer } = h;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');

/* The algorithms keygate signs with (--signing-alg); each suite runs a keygate for each. */
export const ALGS = ['EdDSA', 'ES256', 'RS256'];

/*
 * A keygate whose fresh data directory got a signing key for alg, started with extra args;
 * an accountadmin bootstrap token, and a client whose role (roleName) holds privileges.
 * Returns {alg, srv, issuer, meta, admin, roleId, user: {clientId, clientSecret}, url(p)}:
 * meta is the discovery document at /.well-known/openid-configuration.
 */
export async function algServer(alg, { args = [], roleName = 'interop_client', privileges = ['ManageSecurity'] } = {}) {
  const srv = await startServer({ args: ['--signing-alg', alg, ...args] });
  try {
    const r = await api(srv.base, 'GET', '/.well-known/openid-configuration');
    assert.equal(r.status, 200, `discovery document: ${r.status} ${r.text}`);
    const admin = await bootstrap(srv, `${alg} admin`);
    const roleId = await makeRole(srv.base, admin.access, roleName, privileges);
    const user = await makeToken(srv.base, admin.access, roleId, `${alg} interop client`);
    return { alg, srv, issuer: r.json.issuer, meta: r.json, admin, roleId, user, url: (p) => srv.base + p };
  } catch (e) {
    await srv.stop();
    throw e;
  }
}

/* Revokes an API token through the REST API (its access tokens stop working at once). */
export async function revokeApiToken(s, clientId) {
  const r = await api(s.srv.base, 'POST', `${V1}/apiToken/${clientId}:revoke`, { token: s.admin.access });
  assert.equal(r.status, 200, `revoke ${clientId}: ${r.status} ${r.text}`);
  assert.equal(r.json.status, 'Revoked');
}

/* The REST resource a client of role ManageSecurity may read about itself. */
export const ownTokenPath = (clientId) => `${V1}/apiToken/${clientId}`;

/*
 * Asserts that jwk is a public signing key of alg as RFC 7517/7518 write it, with the use and
 * alg members libraries filter on: EdDSA an OKP Ed25519 key, ES256 an EC P-256 key, RS256 an
 * RSA key of 2048 bits at least.
 */
export function assertAlgKey(jwk, alg) {
  const ctx = JSON.stringify(jwk);
  assert.equal(jwk.alg, alg, `alg: ${ctx}`);
  assert.equal(jwk.use, 'sig', `use: ${ctx}`);
  assert.ok(typeof jwk.kid === 'string' && jwk.kid.length > 0, `kid: ${ctx}`);
  const b = (x) => Buffer.from(x || '', 'base64url').length;
  if (alg === 'EdDSA') {
    assert.equal(jwk.kty, 'OKP', ctx);
    assert.equal(jwk.crv, 'Ed25519', ctx);
    assert.equal(b(jwk.x), 32, `x: ${ctx}`);
  } else if (alg === 'ES256') {
    assert.equal(jwk.kty, 'EC', ctx);
    assert.equal(jwk.crv, 'P-256', ctx);
    assert.equal(b(jwk.x), 32, `x: ${ctx}`);
    assert.equal(b(jwk.y), 32, `y: ${ctx}`);
  } else if (alg === 'RS256') {
    assert.equal(jwk.kty, 'RSA', ctx);
    assert.ok(b(jwk.n) >= 256, `n of 2048 bits at least: ${ctx}`);
    assert.ok(b(jwk.e) > 0, `e: ${ctx}`);
  } else {
    assert.fail(`unknown algorithm ${alg}`);
  }
  for (const k of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(jwk[k], undefined, `no private member ${k}: ${ctx}`);
}

/* The JWKS keygate publishes now (fetched with plain fetch, for the tests' own checks). */
export async function jwks(s) {
  const r = await api(s.srv.base, 'GET', new URL(s.meta.jwks_uri).pathname);
  assert.equal(r.status, 200, `JWKS: ${r.status} ${r.text}`);
  return r.json;
}

/*
 * Runs `bin args`, writes the JSON of steps to its stdin and parses the JSON list it prints
 * (one result per step).  A non-zero exit, a time-out or output that is not such a list is a
 * thrown error carrying stderr.
 */
function runSteps(bin, args, steps, { env = {}, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const base = { ...process.env };
    for (const k of ['PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP']) delete base[k];
    const proc = spawn(bin, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...base, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost', ...env },
    });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const what = `${path.basename(bin)} ${args.map((a) => path.basename(a)).join(' ')}`;
      if (code !== 0) { reject(new Error(`${what} exited ${code ?? signal}:\n${err}${out}`)); return; }
      let results;
      try { results = JSON.parse(out); } catch { reject(new Error(`${what} printed no JSON:\n${out}\n${err}`)); return; }
      if (!Array.isArray(results) || results.length !== steps.length) {
        reject(new Error(`${what}: ${steps.length} results expected, got ${out}`));
        return;
      }
      resolve(results);
    });
    proc.stdin.end(JSON.stringify(steps));
  });
}

/* Debian's Python, not whatever python3 is first on PATH: Debian's packages install for it. */
const PYTHON = '/usr/bin/python3';

/* Runs pyclient.py on steps (see its header).  oauthlib refuses plain http unless told. */
export function python(steps) {
  assert.ok(fs.existsSync(PYTHON), `${PYTHON} not found: scripts/setup.sh test installs python3`);
  return runSteps(PYTHON, [path.join(HERE, 'pyclient.py')], steps, { env: { OAUTHLIB_INSECURE_TRANSPORT: '1' } });
}

const GO = '/usr/bin/go';
const GO_OUT = path.join(ROOT, 'build/interop');
const GO_BIN = path.join(GO_OUT, 'goclient');

/*
 * Builds goclient.go into build/interop/ with Debian's Go against Debian's x/oauth2: GOPATH
 * mode (GO111MODULE=off, GOPATH=/usr/share/gocode), no module proxy, the build cache in
 * build/interop/gocache (so a second build is a link at most).  Bounded to 120 s.
 */
let goBuilt = null;
export function buildGoClient() {
  goBuilt ??= new Promise((resolve, reject) => {
    assert.ok(fs.existsSync(GO), `${GO} not found: scripts/setup.sh test installs golang-go`);
    fs.mkdirSync(GO_OUT, { recursive: true });
    const env = {
      ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOPROXY: 'off', GOFLAGS: '',
      GOENV: 'off', GOCACHE: path.join(GO_OUT, 'gocache'), GOTMPDIR: '', CGO_ENABLED: '0',
    };
    execFile(GO, ['build', '-o', GO_BIN, path.join(HERE, 'goclient.go')], { env, cwd: ROOT, timeout: 120000 },
      (e, stdout, stderr) => (e ? reject(new Error(`go build goclient.go: ${e.message}\n${stderr}`)) : resolve(GO_BIN)));
  });
  return goBuilt;
}

/* Runs the Go client on steps (see goclient.go's header); builds it first if need be. */
export async function goClient(steps) {
  return runSteps(await buildGoClient(), [], steps);
}
