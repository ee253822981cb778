// keygate's /gate (issue 4): the check a reverse proxy (nginx auth_request, Traefik forwardAuth,
// Envoy ext_authz) makes before passing a request on, and the route policy file behind it
// (--policy FILE, reloaded on SIGHUP).  Direct HTTP calls to /gate; nginx in front of a real
// upstream is in nginx.test.mjs.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/standards/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  h, flipSignature, makeRole, makeToken, grant, revokePrivilege, principal, revokeAccessToken,
  gate, assertGate401, assertGateAllowed, loadLoop,
} from './lib.mjs';

const { V1, api, startServer, bootstrap, decodeJwt, sleep, waitFor } = h;

const POLICY = `# Route policy for tests/standards/gate.test.mjs
# METHOD  PATH-PATTERN            PRIVILEGE
GET       /api/orders             orders.read
GET       /api/orders/*           orders.read
POST      /api/orders             orders.write
DELETE    /api/orders/*           orders.admin

ANY       /api/admin/**           ManageSecurity
GET       /api/files/**           files.read

# first match wins: the narrower rule comes first
GET       /api/reports/secret     reports.secret
GET       /api/reports/*          orders.read
`;

function safeJson(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

function tmpDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `keygate-${tag}-`));
}

describe('/gate with a route policy', () => {
  let dir;
  let srv;
  let short; // same policy, --access-token-ttl 10: for the expiry test (last)
  let shortP;
  let admin;
  let reader; // orders.read
  let writer; // orders.read + orders.write
  let filer; // files.read

  before(async () => {
    dir = tmpDir('gate');
    const policy = path.join(dir, 'policy.txt');
    fs.writeFileSync(policy, POLICY);
    srv = await startServer({ args: ['--policy', policy] });
    short = await startServer({ args: ['--policy', policy, '--access-token-ttl', '10'] });
    const sAdmin = await bootstrap(short, 'short admin');
    shortP = await principal(short.base, sAdmin.access, 'short_reader', ['orders.read']);
    admin = await bootstrap(srv, 'gate admin');
    admin.roleName = 'accountadmin';
    reader = await principal(srv.base, admin.access, 'orders_reader', ['orders.read']);
    writer = await principal(srv.base, admin.access, 'orders_writer', ['orders.read', 'orders.write']);
    filer = await principal(srv.base, admin.access, 'files_reader', ['files.read']);
  });

  after(async () => {
    if (srv) await srv.stop();
    if (short) await short.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('allowed: 204 with X-Keygate-Client-Id and X-Keygate-Role, no body', async () => {
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/42', token: reader.access }), reader, 'reader GET /api/orders/42');
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders', token: reader.access }), reader, 'reader GET /api/orders');
    assertGateAllowed(await gate(srv.base, { method: 'POST', uri: '/api/orders', token: writer.access }), writer, 'writer POST /api/orders');
  });

  test('the /gate call itself may use any method (nginx auth_request keeps the original one)', async () => {
    for (const gm of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const r = await gate(srv.base, { gateMethod: gm, method: 'GET', uri: '/api/orders/1', token: reader.access });
      assertGateAllowed(r, reader, `${gm} /gate`);
      const d = await gate(srv.base, { gateMethod: gm, method: 'POST', uri: '/api/orders', token: reader.access });
      assert.equal(d.status, 403, `${gm} /gate for a denied route: ${d.status} ${d.text}`);
    }
    const hd = await gate(srv.base, { gateMethod: 'HEAD', method: 'GET', uri: '/api/orders/1', token: reader.access });
    assert.equal(hd.status, 204, `HEAD /gate: ${hd.status}`);
    assert.equal(hd.headers.get('x-keygate-client-id'), reader.clientId);
  });

  test('denied: a valid token whose role lacks the rule\'s privilege → 403', async () => {
    const cases = [
      [reader, 'POST', '/api/orders'],
      [reader, 'DELETE', '/api/orders/7'],
      [writer, 'DELETE', '/api/orders/7'],
      [filer, 'GET', '/api/orders/7'],
      [reader, 'GET', '/api/files/a.txt'],
      [reader, 'GET', '/api/admin/users'],
    ];
    for (const [p, method, uri] of cases) {
      const r = await gate(srv.base, { method, uri, token: p.access });
      assert.equal(r.status, 403, `${p.roleName} ${method} ${uri}: ${r.status} ${r.text}`);
      assert.equal(r.headers.get('www-authenticate'), null, `${method} ${uri}: a 403 is not a challenge`);
    }
  });

  test('no matching rule → 403, even for accountadmin', async () => {
    const cases = [
      ['GET', '/'], ['GET', '/api'], ['GET', '/other'], ['GET', '/api/orders/1/items'],
      ['PUT', '/api/orders/1'], ['POST', '/api/files/a'], ['GET', '/API/orders'],
      ['get', '/api/orders'], ['GET', '/api/orders2'],
    ];
    for (const [method, uri] of cases) {
      for (const p of [reader, admin]) {
        const r = await gate(srv.base, { method, uri, token: p.access });
        assert.equal(r.status, 403, `${p.roleName} ${method} ${uri} (no rule): ${r.status} ${r.text}`);
      }
    }
  });

  test('first match wins', async () => {
    const s = await gate(srv.base, { method: 'GET', uri: '/api/reports/secret', token: reader.access });
    assert.equal(s.status, 403, `reader GET /api/reports/secret (needs reports.secret): ${s.status}`);
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/reports/q3', token: reader.access }), reader, 'reader GET /api/reports/q3');
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/reports/secret', token: admin.access }), admin, 'admin GET /api/reports/secret');
  });

  test('`*` is exactly one segment; `**` is the rest, zero segments included', async () => {
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/abc-123', token: reader.access }), reader, '* one segment');
    const two = await gate(srv.base, { method: 'GET', uri: '/api/orders/1/items', token: reader.access });
    assert.equal(two.status, 403, `* must not match two segments: ${two.status}`);
    for (const uri of ['/api/files', '/api/files/', '/api/files/a', '/api/files/a/b/c.txt']) {
      assertGateAllowed(await gate(srv.base, { method: 'GET', uri, token: filer.access }), filer, `** GET ${uri}`);
    }
    const near = await gate(srv.base, { method: 'GET', uri: '/api/filesystem', token: filer.access });
    assert.equal(near.status, 403, `** is segment-wise: /api/filesystem is not under /api/files: ${near.status}`);
  });

  test('ANY matches every method', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND']) {
      assertGateAllowed(await gate(srv.base, { method, uri: '/api/admin/users/9', token: admin.access }), admin, `admin ${method} /api/admin/users/9`);
      const r = await gate(srv.base, { method, uri: '/api/admin/users/9', token: reader.access });
      assert.equal(r.status, 403, `reader ${method} /api/admin/users/9: ${r.status}`);
    }
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/admin', token: admin.access }), admin, 'ANY /api/admin/** matches /api/admin');
  });

  test('the query string is not part of the match', async () => {
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/1?x=1&next=/api/admin', token: reader.access }), reader, 'query ignored');
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders?', token: reader.access }), reader, 'empty query');
    const r = await gate(srv.base, { method: 'GET', uri: '/api/admin?/api/orders', token: reader.access });
    assert.equal(r.status, 403, `query cannot smuggle a path: ${r.status}`);
  });

  test('dot segments and encoded separators cannot climb out of a `**` rule', async () => {
    const cases = [
      '/api/files/../admin/users', '/api/files/%2e%2e/admin/users', '/api/files/%2E%2E/admin',
      '/api/files/..%2fadmin', '/api/files/a%2F..%2F..%2Fadmin', '/api/files/./x', '/api/files//x',
      '/api/files/..;/admin', '/api/files/\\..\\admin', 'api/files/x', '/api/files/%00',
    ];
    for (const uri of cases) {
      const r = await gate(srv.base, { method: 'GET', uri, token: filer.access });
      assert.ok(r.status === 403 || r.status === 400, `files_reader GET ${uri} must be refused, got ${r.status} ${r.text}`);
    }
  });

  test('Traefik style: X-Forwarded-Method + X-Forwarded-Uri', async () => {
    assertGateAllowed(await gate(srv.base, { style: 'traefik', method: 'GET', uri: '/api/orders/5', token: reader.access }), reader, 'forwarded GET allowed');
    const d = await gate(srv.base, { style: 'traefik', method: 'POST', uri: '/api/orders', token: reader.access });
    assert.equal(d.status, 403, `forwarded POST denied: ${d.status}`);
    assertGate401(await gate(srv.base, { style: 'traefik', method: 'GET', uri: '/api/orders/5' }), 'forwarded, no token');
  });

  test('missing original method or URI → 400', async () => {
    const cases = {
      neither: {},
      'method only': { method: 'GET' },
      'URI only': { uri: '/api/orders' },
      'nginx method + traefik URI': { headers: { 'X-Original-Method': 'GET', 'X-Forwarded-Uri': '/api/orders' } },
    };
    for (const [name, o] of Object.entries(cases)) {
      const r = await gate(srv.base, { ...o, token: reader.access });
      h.assertApiError({ ...r, json: safeJson(r.text) }, 400, 'INVALID_ARGUMENT', name);
      assert.equal(r.headers.get('x-keygate-client-id'), null, `${name}: no client id on a 400`);
    }
  });

  test('an empty original method or URI is a malformed gate request (400), not a policy miss', async () => {
    // The headers are there but carry nothing: a proxy misconfiguration the operator should
    // see as 400 rather than a 403 that looks like a policy decision.
    const cases = {
      'empty method': { method: '', uri: '/api/orders' },
      'empty URI': { method: 'GET', uri: '' },
      'empty both': { method: '', uri: '' },
      'method with a space': { method: 'GET X', uri: '/api/orders' },
      'URI without a leading slash': { method: 'GET', uri: 'api/orders' },
    };
    const got = {};
    for (const [name, o] of Object.entries(cases)) {
      const r = await gate(srv.base, { ...o, token: reader.access });
      got[name] = r.status;
      assert.notEqual(r.status, 204, `${name} must never be allowed`);
    }
    assert.deepEqual(got, {
      'empty method': 400, 'empty URI': 400, 'empty both': 400,
      'method with a space': 400, 'URI without a leading slash': 400,
    });
  });

  test('unauthenticated: missing, malformed, forged or foreign token → 401 Bearer invalid_token', async () => {
    const { parts, payload } = decodeJwt(reader.access);
    const cases = {
      'no Authorization': undefined,
      'empty Bearer': 'Bearer ',
      'Bearer garbage': 'Bearer not-a-jwt',
      'Basic credentials': h.basic(reader.clientId, reader.clientSecret),
      'flipped signature byte': `Bearer ${flipSignature(reader.access)}`,
      'payload changed (role)': `Bearer ${parts[0]}.${h.encodeJwtPart({ ...payload, role: 'accountadmin' })}.${parts[2]}`,
      'payload changed (sub)': `Bearer ${parts[0]}.${h.encodeJwtPart({ ...payload, sub: admin.clientId, client_id: admin.clientId })}.${parts[2]}`,
      'alg none': `Bearer ${h.encodeJwtPart({ alg: 'none', typ: 'at+jwt' })}.${parts[1]}.`,
      'another keygate\'s token': `Bearer ${shortP.access}`,
      'API secret as bearer': `Bearer ${reader.clientSecret}`,
    };
    for (const [name, authorization] of Object.entries(cases)) {
      const r = await gate(srv.base, { method: 'GET', uri: '/api/orders/1', authorization });
      assertGate401(r, name);
    }
    // 401 beats 403 and "no rule": an unauthenticated caller learns nothing about the policy.
    assertGate401(await gate(srv.base, { method: 'GET', uri: '/no/rule/here' }), 'no token, no rule');
  });

  test('revoked API token → 401 at once; other clients unaffected', async () => {
    const victim = await principal(srv.base, admin.access, 'victim_role', ['orders.read']);
    const second = await h.accessToken(srv.base, victim.clientId, victim.clientSecret);
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: victim.access }), victim, 'before revoke');
    const rv = await api(srv.base, 'POST', `${V1}/apiToken/${victim.clientId}:revoke`, { token: admin.access });
    assert.equal(rv.status, 200, rv.text);
    assertGate401(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: victim.access }), 'right after revoke');
    assertGate401(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: second }), 'the revoked client\'s other access token');
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: reader.access }), reader, 'another client');
  });

  test('access token revoked by jti (RFC 7009) → 401 at once; the client\'s other token still allowed', async () => {
    const t1 = await h.accessToken(srv.base, writer.clientId, writer.clientSecret);
    const t2 = await h.accessToken(srv.base, writer.clientId, writer.clientSecret);
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: t1 }), writer, 't1 before');
    assert.equal(await revokeAccessToken(srv.base, writer, t1), 200);
    assertGate401(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: t1 }), 'revoked jti');
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: t2 }), writer, 'other token of the same client');
  });

  test('a CLI revoke reaches the running gate within ~1 s', async () => {
    const victim = await principal(srv.base, admin.access, 'cli_victim', ['orders.read']);
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: victim.access }), victim, 'before');
    const c = h.cli(srv.db, ['token', 'revoke', victim.clientId]);
    assert.equal(c.status, 0, c.stderr);
    const t0 = Date.now();
    const w = await waitFor(async () => (await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: victim.access })).status === 401, 3000);
    assert.ok(w.ok, 'the gate still allowed a CLI-revoked token after 3 s');
    assert.ok(Date.now() - t0 <= 2000, `CLI revoke took ${Date.now() - t0} ms to reach the gate`);
  });

  test('the token\'s current role decides: granting and revoking a privilege applies at once', async () => {
    const p = await principal(srv.base, admin.access, 'changing_role', ['orders.read']);
    assert.equal((await gate(srv.base, { method: 'POST', uri: '/api/orders', token: p.access })).status, 403);
    await grant(srv.base, admin.access, p.roleId, 'orders.write');
    assertGateAllowed(await gate(srv.base, { method: 'POST', uri: '/api/orders', token: p.access }), p, 'after grant');
    await revokePrivilege(srv.base, admin.access, p.roleId, 'orders.write');
    assert.equal((await gate(srv.base, { method: 'POST', uri: '/api/orders', token: p.access })).status, 403, 'after revoke');
    await grant(srv.base, admin.access, p.roleId, 'orders.read', 'Deny');
    assert.equal((await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: p.access })).status, 403, 'a Deny grant wins');
  });

  test('privileges through a granted role count (active role set)', async () => {
    const childId = await makeRole(srv.base, admin.access, 'child_files', ['files.read']);
    const parent = await principal(srv.base, admin.access, 'parent_role', []);
    const r0 = await gate(srv.base, { method: 'GET', uri: '/api/files/x', token: parent.access });
    assert.equal(r0.status, 403);
    const g = await api(srv.base, 'PATCH', `${V1}/role/${parent.roleId}`, {
      token: admin.access, body: { directlyGrantedRoles: [{ roleId: childId }] },
    });
    assert.equal(g.status, 200, `grant child_files to parent_role: ${g.status} ${g.text}`);
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/files/x', token: parent.access }), parent, 'via granted role');
  });

  test('a gate check counts as an access: lastAccessOn advances', async () => {
    const p = await principal(srv.base, admin.access, 'access_clock', ['orders.read']);
    const get = async () => {
      const r = await api(srv.base, 'GET', `${V1}/apiToken/${p.clientId}`, { token: admin.access });
      assert.equal(r.status, 200, r.text);
      return r.json.lastAccessOn;
    };
    // The exchange itself may count; let its write settle, then leave more than the 1 s coalescing.
    await sleep(1200);
    const before = await get();
    await sleep(1100);
    assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/api/orders/1', token: p.access }), p, 'gate check');
    const w = await waitFor(async () => {
      const now = await get();
      return now && (!before || Date.parse(now) > Date.parse(before)) ? now : false;
    }, 3000, 100);
    assert.ok(w.ok, `lastAccessOn did not advance after a gate check: before ${before}, after ${w.value}`);
    assert.ok(Date.parse(w.value) >= Date.now() - 5000, `lastAccessOn is recent: ${w.value}`);
  });

  test('expired access token → 401 (ttl 10 s)', async () => {
    const exp = decodeJwt(shortP.access).payload.exp;
    if (Date.now() / 1000 < exp - 1) {
      assertGateAllowed(await gate(short.base, { method: 'GET', uri: '/api/orders/1', token: shortP.access }), shortP, 'before expiry');
    }
    const waitMs = exp * 1000 - Date.now() + 1100;
    assert.ok(waitMs < 12000, `bounded wait: ${waitMs} ms`);
    if (waitMs > 0) await sleep(waitMs);
    assertGate401(await gate(short.base, { method: 'GET', uri: '/api/orders/1', token: shortP.access }), 'expired');
  });
});

describe('/gate without --policy', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { if (srv) await srv.stop(); });

  test('no policy means no rule: a valid token is denied (403), no token is 401', async () => {
    const admin = await bootstrap(srv, 'no policy');
    const r = await gate(srv.base, { method: 'GET', uri: '/api/orders', token: admin.access });
    assert.equal(r.status, 403, `${r.status} ${r.text}`);
    assertGate401(await gate(srv.base, { method: 'GET', uri: '/api/orders' }), 'no token');
  });
});

describe('bad policy at start-up', () => {
  /* Starts keygate with the given args and waits (≤ 10 s) for it to exit. */
  function runToExit(args) {
    return new Promise((resolve) => {
      const p = spawn(h.BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      p.stderr.setEncoding('utf8');
      p.stderr.on('data', (d) => { stderr += d; });
      p.stdout.resume();
      const timer = setTimeout(() => { p.kill('SIGKILL'); }, 10000);
      p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stderr }); });
    });
  }

  test('a malformed policy file is refused at start with its line number', async () => {
    const dir = tmpDir('badpolicy');
    try {
      const port = await h.freePort();
      const policy = path.join(dir, 'policy.txt');
      fs.writeFileSync(policy, '# ok\nGET /a read.a\nGET /b\n');
      const r = await runToExit(['--db', path.join(dir, 'k.db'), 'serve', '--listen', `127.0.0.1:${port}`, '--policy', policy]);
      assert.equal(r.signal, null, `keygate should exit by itself, not run on: ${r.stderr}`);
      assert.notEqual(r.code, 0, 'a bad policy at start-up is an error');
      assert.match(r.stderr, /line 3\b/, `stderr names the bad line: ${r.stderr}`);
      const missing = await runToExit(['--db', path.join(dir, 'k.db'), 'serve', '--listen', `127.0.0.1:${port}`, '--policy', path.join(dir, 'nope.txt')]);
      assert.equal(missing.signal, null, `keygate should exit by itself: ${missing.stderr}`);
      assert.notEqual(missing.code, 0, 'a missing policy file at start-up is an error');
      assert.match(missing.stderr, /nope\.txt/, `stderr names the file: ${missing.stderr}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SIGHUP reloads the policy without dropping requests', () => {
  let dir;
  let policy;
  let srv;
  let p; // read.things + write.things

  const V_OLD = '# v1\nGET /v1/things read.things\nGET /v1/things/* read.things\n';
  const V_NEW = '# v2\nGET /v1/things read.things\nGET /v1/things/* read.things\nPOST /v1/things write.things\n';

  before(async () => {
    dir = tmpDir('reload');
    policy = path.join(dir, 'policy.txt');
    fs.writeFileSync(policy, V_OLD);
    srv = await startServer({ args: ['--policy', policy] });
    const admin = await bootstrap(srv, 'reload admin');
    p = await principal(srv.base, admin.access, 'things_rw', ['read.things', 'write.things']);
  });

  after(async () => {
    if (srv) await srv.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const post = () => gate(srv.base, { method: 'POST', uri: '/v1/things', token: p.access });

  test('rewrite + SIGHUP: a denied route is allowed within 1 s; a bad file keeps the old policy; no request fails meanwhile', async () => {
    assert.equal((await post()).status, 403, 'POST /v1/things has no rule yet');

    // Concurrent checks of a route both policies allow: keep-alive fetches and fresh connections.
    const viaFetch = async () => (await gate(srv.base, { method: 'GET', uri: '/v1/things/1', token: p.access })).status;
    const viaFresh = async () => {
      const r = await h.rawRequest(srv.port, 'GET', '/gate', {
        'X-Original-Method': 'GET', 'X-Original-URI': '/v1/things', Authorization: `Bearer ${p.access}`,
      });
      if (r.error) throw r.error;
      return r.status;
    };
    const loop = loadLoop([viaFetch, viaFetch, viaFresh, viaFresh], { expect: 204, maxRequests: 6000, maxMs: 20000 });
    try {
      await sleep(200);
      const sentBefore = loop.sent;

      // 1. Allow POST: rewrite, SIGHUP, allowed within 1 s.
      fs.writeFileSync(policy, V_NEW);
      const t0 = Date.now();
      srv.proc.kill('SIGHUP');
      const w = await waitFor(async () => (await post()).status === 204, 1000, 20);
      assert.ok(w.ok, `POST /v1/things still ${(await post()).status} 1 s after SIGHUP`);
      const took = Date.now() - t0;
      assert.ok(took <= 1100, `reload took ${took} ms`);
      assertGateAllowed(await post(), p, 'after reload');

      // 2. A burst of reloads of a good file while the loop runs.
      for (let i = 0; i < 15; i++) {
        fs.writeFileSync(`${policy}.tmp`, V_NEW + `# reload ${i}\n`);
        fs.renameSync(`${policy}.tmp`, policy);
        srv.proc.kill('SIGHUP');
        await sleep(30);
      }
      assert.ok(srv.alive(), 'keygate survived a burst of SIGHUPs');
      assertGateAllowed(await post(), p, 'after the burst');

      // 3. A bad file: refused with its line number, the old policy stays.
      const errBefore = srv.stderr.length;
      fs.writeFileSync(policy, '# broken\nGET /v1/things read.things\nPOST /v1/things\nGET /v1/other read.things\n');
      srv.proc.kill('SIGHUP');
      const logged = await waitFor(() => /line 3\b/.test(srv.stderr.slice(errBefore)), 2000, 20);
      assert.ok(logged.ok, `stderr should name line 3 of the bad policy; got:\n${srv.stderr.slice(errBefore)}`);
      await sleep(100);
      assertGateAllowed(await post(), p, 'old policy kept after a bad file (POST)');
      assertGateAllowed(await gate(srv.base, { method: 'GET', uri: '/v1/things', token: p.access }), p, 'old policy kept (GET)');
      const other = await gate(srv.base, { method: 'GET', uri: '/v1/other', token: p.access });
      assert.equal(other.status, 403, 'no rule of the refused file is in force');

      // 4. A missing file: refused, old policy stays.
      const errBefore2 = srv.stderr.length;
      fs.rmSync(policy);
      srv.proc.kill('SIGHUP');
      const logged2 = await waitFor(() => srv.stderr.length > errBefore2, 2000, 20);
      assert.ok(logged2.ok, 'a SIGHUP with the policy file gone is logged');
      await sleep(100);
      assertGateAllowed(await post(), p, 'old policy kept after the file vanished');

      // 5. A good file again: reloads still work after refusals (POST denied again).
      fs.writeFileSync(policy, V_OLD);
      srv.proc.kill('SIGHUP');
      const w2 = await waitFor(async () => (await post()).status === 403, 1000, 20);
      assert.ok(w2.ok, 'a good file after refused ones is loaded within 1 s');

      await sleep(100);
      assert.ok(loop.sent - sentBefore > 20, `the load loop ran during the reloads (${loop.sent - sentBefore} requests)`);
    } finally {
      const { sent, failures } = await loop.stop();
      assert.ok(srv.alive(), `keygate exited: ${JSON.stringify(srv.exited)}\n${srv.stderr}`);
      assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${sent} concurrent gate checks failed during reloads`);
    }
  });
});
