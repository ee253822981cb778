// nginx end to end (issue 4): Debian's nginx (nginx-light) with auth_request -> keygate /gate,
// in front of a small upstream (a node http server echoing what it received), driven with
// curl.  Each nginx is started by the test on a free loopback port with its own config,
// pid, error log and temp paths in a temp directory, and stopped in `after`.
//
// Two setups: the config shape from issue 4 (written here), and examples/nginx.conf with
// examples/policy.txt (addresses substituted), so the shipped examples stay working.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/standards/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { h, principal, revokeAccessToken, flipSignature } from './lib.mjs';
import { EXAMPLES, curl, httpPrelude, startExampleNginx, startNginx, startUpstream } from './proxies.mjs';

const { V1, api, startServer, bootstrap, sleep, freePort } = h;

const POLICY = `# nginx.test.mjs
GET    /api/orders      orders.read
GET    /api/orders/*    orders.read
POST   /api/orders      orders.write
GET    /api/files/**    files.read
ANY    /api/admin/**    ManageSecurity
`;

/* The config shape: auth_request /_keygate_gate -> keygate /gate, then the upstream. */
function testConf(dir, nport, kport, uport) {
  return `worker_processes 1;
events { worker_connections 256; }
http {
    ${httpPrelude(dir)}
    server {
        listen 127.0.0.1:${nport};
        location = /_ready { return 204; }
        location = /_keygate_gate {
            internal;
            proxy_pass http://127.0.0.1:${kport}/gate;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
        }
        location /api/ {
            auth_request /_keygate_gate;
            auth_request_set $kg_client $upstream_http_x_keygate_client_id;
            auth_request_set $kg_role $upstream_http_x_keygate_role;
            proxy_set_header X-Keygate-Client-Id $kg_client;
            proxy_set_header X-Keygate-Role $kg_role;
            proxy_pass http://127.0.0.1:${uport};
        }
    }
}
`;
}

describe('nginx auth_request in front of an upstream, keygate /gate deciding', () => {
  let dir;
  let srv;
  let up;
  let ngx;
  let admin;
  let reader; // orders.read
  let writer; // orders.read + orders.write
  let filer; // files.read
  let url;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-nginx-'));
    const policy = path.join(dir, 'policy.txt');
    fs.writeFileSync(policy, POLICY);
    srv = await startServer({ args: ['--policy', policy] });
    up = await startUpstream();
    const nport = await freePort();
    ngx = await startNginx(path.join(dir, 'nginx'), nport, testConf(path.join(dir, 'nginx'), nport, srv.port, up.port));
    url = (p) => `http://127.0.0.1:${nport}${p}`;
    admin = await bootstrap(srv, 'nginx admin');
    reader = await principal(srv.base, admin.access, 'ngx_reader', ['orders.read']);
    writer = await principal(srv.base, admin.access, 'ngx_writer', ['orders.read', 'orders.write']);
    filer = await principal(srv.base, admin.access, 'ngx_files', ['files.read']);
  });

  after(async () => {
    // Each step on its own, so one failing does not leave the others running.
    try { if (ngx) await ngx.stop(); } catch { /* keep going */ }
    try { if (up) await up.close(); } catch { /* keep going */ }
    try { if (srv) await srv.stop(); } catch { /* keep going */ }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('allowed: 200 from the upstream, which sees the client id and role', async () => {
    const n = up.hits.length;
    const r = await curl(url('/api/orders/17?expand=items'), { token: reader.access });
    assert.equal(r.status, 200, `GET /api/orders/17 through nginx: ${r.status} ${r.body}\n${ngx.errorLog()}`);
    assert.equal(r.json.upstream, true, r.body);
    assert.equal(r.json.method, 'GET');
    assert.equal(r.json.path, '/api/orders/17?expand=items');
    assert.equal(r.json.clientId, reader.clientId);
    assert.equal(r.json.role, 'ngx_reader');
    assert.equal(up.hits.length, n + 1);
  });

  test('allowed POST: the upstream gets the body, the gate does not need it', async () => {
    const data = JSON.stringify({ item: 'widget', qty: 3 });
    const r = await curl(url('/api/orders'), { method: 'POST', token: writer.access, data });
    assert.equal(r.status, 200, `POST /api/orders through nginx: ${r.status} ${r.body}\n${ngx.errorLog()}`);
    assert.equal(r.json.method, 'POST');
    assert.equal(r.json.body, data);
    assert.equal(r.json.clientId, writer.clientId);
    assert.equal(r.json.role, 'ngx_writer');
  });

  test('denied: a role without the privilege → 403 and the upstream is not called', async () => {
    const n = up.hits.length;
    const r = await curl(url('/api/orders'), { method: 'POST', token: reader.access, data: '{}' });
    assert.equal(r.status, 403, `reader POST /api/orders: ${r.status} ${r.body}`);
    const f = await curl(url('/api/files/report.pdf'), { token: reader.access });
    assert.equal(f.status, 403, `reader GET /api/files/report.pdf: ${f.status}`);
    const nr = await curl(url('/api/unlisted'), { token: admin.access });
    assert.equal(nr.status, 403, `no rule, even for accountadmin: ${nr.status}`);
    assert.equal(up.hits.length, n, 'the upstream saw none of the denied requests');
  });

  test('unauthenticated: no, malformed or forged token → 401 with keygate\'s Bearer challenge', async () => {
    const n = up.hits.length;
    const cases = {
      'no token': {},
      'garbage token': { token: 'garbage' },
      'flipped signature': { token: flipSignature(reader.access) },
      'Basic credentials': { headers: { Authorization: h.basic(reader.clientId, reader.clientSecret) } },
    };
    for (const [name, o] of Object.entries(cases)) {
      const r = await curl(url('/api/orders/1'), o);
      assert.equal(r.status, 401, `${name}: ${r.status} ${r.body}`);
      const wa = r.headers['www-authenticate'];
      assert.ok(wa && /^Bearer\b/.test(wa) && /error="invalid_token"/.test(wa),
        `${name}: nginx passes keygate's WWW-Authenticate on: ${JSON.stringify(wa)}`);
    }
    assert.equal(up.hits.length, n, 'the upstream saw none of the unauthenticated requests');
  });

  test('revoked then refused: revoke the API token via the REST API, the same access token → 401', async () => {
    const victim = await principal(srv.base, admin.access, 'ngx_victim', ['orders.read']);
    const ok = await curl(url('/api/orders/1'), { token: victim.access });
    assert.equal(ok.status, 200, `before the revoke: ${ok.status} ${ok.body}`);
    assert.equal(ok.json.clientId, victim.clientId);
    const rv = await api(srv.base, 'POST', `${V1}/apiToken/${victim.clientId}:revoke`, { token: admin.access });
    assert.equal(rv.status, 200, rv.text);
    assert.equal(rv.json.status, 'Revoked');
    const n = up.hits.length;
    const r = await curl(url('/api/orders/1'), { token: victim.access });
    assert.equal(r.status, 401, `after the revoke: ${r.status} ${r.body}`);
    assert.equal(up.hits.length, n, 'the upstream did not see the revoked token\'s request');
    const other = await curl(url('/api/orders/1'), { token: reader.access });
    assert.equal(other.status, 200, 'other clients are unaffected');
  });

  test('an access token revoked by its client (RFC 7009) is refused through nginx at once', async () => {
    const t1 = await h.accessToken(srv.base, writer.clientId, writer.clientSecret);
    const t2 = await h.accessToken(srv.base, writer.clientId, writer.clientSecret);
    assert.equal((await curl(url('/api/orders/2'), { token: t1 })).status, 200);
    assert.equal(await revokeAccessToken(srv.base, writer, t1), 200);
    assert.equal((await curl(url('/api/orders/2'), { token: t1 })).status, 401);
    assert.equal((await curl(url('/api/orders/2'), { token: t2 })).status, 200, 'the client\'s other token still passes');
  });

  test('a client cannot forge the gate\'s inputs or outputs through nginx', async () => {
    // Spoofed X-Original-*: nginx's proxy_set_header replaces them with the real request.
    const n = up.hits.length;
    const r = await curl(url('/api/orders'), {
      method: 'POST', token: reader.access, data: '{}',
      headers: { 'X-Original-Method': 'GET', 'X-Original-URI': '/api/orders/1' },
    });
    assert.equal(r.status, 403, `spoofed X-Original-* must not help: ${r.status} ${r.body}`);
    assert.equal(up.hits.length, n);
    // Spoofed X-Forwarded-Method/Uri, which nginx passes through: keygate sees both forms and
    // refuses the check (400), which nginx answers as 500.  Never judged on the client's pair.
    const f = await curl(url('/api/orders'), {
      method: 'POST', token: reader.access, data: '{}',
      headers: { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/api/orders/1' },
    });
    assert.equal(f.status, 500, `spoofed X-Forwarded-* must be refused: ${f.status} ${f.body}`);
    assert.equal(up.hits.length, n);
    assert.match(srv.stderr, / warn +req=\d+ [A-Z]+ \/gate 400 .* client=127\.0\.0\.1 .*error="both X-Original-\* and X-Forwarded-Method\/Uri/);
    // Spoofed X-Keygate-*: replaced by what the gate answered.
    const s = await curl(url('/api/orders/3'), {
      token: reader.access, headers: { 'X-Keygate-Client-Id': 'kgc_AAAAAAAAAAAAAAAA', 'X-Keygate-Role': 'accountadmin' },
    });
    assert.equal(s.status, 200);
    assert.equal(s.json.clientId, reader.clientId, 'the upstream sees the gate\'s client id, not the client\'s');
    assert.equal(s.json.role, 'ngx_reader');
  });

  test('dot segments in the raw request target cannot climb out of a `**` rule', async () => {
    const n = up.hits.length;
    for (const p of ['/api/files/../admin/users', '/api/files/%2e%2e/admin/users', '/api/files/..%2Fadmin/users']) {
      const r = await curl(url(p), { token: filer.access, pathAsIs: true });
      assert.equal(r.status, 403, `files_reader GET ${p} through nginx: ${r.status} ${r.body}`);
    }
    assert.equal(up.hits.length, n, 'the upstream saw none of them');
    const ok = await curl(url('/api/files/a/b/c.txt'), { token: filer.access });
    assert.equal(ok.status, 200);
  });

  test('nginx and keygate logged no gate errors', async () => {
    // but the one refused check above
    const log = ngx.errorLog().split('\n')
      .filter((l) => !/auth request unexpected status: 400 .*"POST \/api\/orders HTTP/.test(l)).join('\n');
    assert.ok(!/\[(error|crit|alert|emerg)\]/.test(log), `nginx error log:\n${log}`);
    assert.ok(srv.alive(), srv.stderr);
  });
});

describe('examples/nginx.conf with examples/policy.txt', () => {
  let dir;
  let srv;
  let up;
  let ngx;
  let url;
  let reader;
  let admin;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-nginx-example-'));
    srv = await startServer({ args: ['--policy', path.join(EXAMPLES, 'policy.txt')] });
    up = await startUpstream();
    ngx = await startExampleNginx(path.join(dir, 'nginx'), srv.port, up.port);
    url = ngx.url;
    admin = await bootstrap(srv, 'example admin');
    reader = await principal(srv.base, admin.access, 'example_reader', ['orders.read']);
  });

  after(async () => {
    try { if (ngx) await ngx.stop(); } catch { /* keep going */ }
    try { if (up) await up.close(); } catch { /* keep going */ }
    try { if (srv) await srv.stop(); } catch { /* keep going */ }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the example config allows, denies and challenges as documented (keep-alive upstreams)', async () => {
    for (let i = 0; i < 3; i++) { // several rounds: the kept-alive connections are reused
      const ok = await curl(url(`/api/orders/${i}/items`), { token: reader.access });
      assert.equal(ok.status, 200, `round ${i}: ${ok.status} ${ok.body}\n${ngx.errorLog()}`);
      assert.equal(ok.json.clientId, reader.clientId);
      assert.equal(ok.json.role, 'example_reader');
      const denied = await curl(url('/api/orders'), { method: 'POST', token: reader.access, data: '{}' });
      assert.equal(denied.status, 403, `round ${i}: reader POST /api/orders`);
      const payroll = await curl(url('/api/reports/payroll'), { token: reader.access });
      assert.equal(payroll.status, 403, `round ${i}: reader GET /api/reports/payroll`);
      const none = await curl(url('/api/orders/1'));
      assert.equal(none.status, 401, `round ${i}: no token`);
      assert.match(none.headers['www-authenticate'] || '', /^Bearer\b.*error="invalid_token"/);
    }
    const other = await curl(url('/elsewhere'), { token: reader.access });
    assert.equal(other.status, 404, 'outside /api/ nothing is served');
  });

  test('a token past its rate limit gets 429 with Retry-After through nginx (not the 500 auth_request makes of it), and its RateLimit headers on every answer', async () => {
    const lim = await principal(srv.base, admin.access, 'example_limited', ['orders.read']);
    const r = await api(srv.base, 'PATCH', `${V1}/apiToken/${lim.clientId}`, { token: admin.access, body: { rateLimit: { requests: 2, periodSeconds: 3600 } } });
    assert.equal(r.status, 200, r.text);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await curl(url('/api/orders/7'), { token: lim.access }));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 429], `${answers.map((a) => a.body).join('\n')}\n${ngx.errorLog()}`);
    assert.equal(answers[0].headers['ratelimit-policy'], '"token";q=2;w=3600');
    assert.equal(answers[0].headers.ratelimit, '"token";r=1;t=1800');
    assert.equal(answers[1].headers.ratelimit, '"token";r=0;t=3600');
    const refused = answers[2];
    assert.equal(refused.headers['retry-after'], '1800');
    assert.equal(refused.headers.ratelimit, '"token";r=0;t=3600');
    assert.equal(refused.json.status, 'RESOURCE_EXHAUSTED');
    // a token without a limit: no RateLimit headers, and the gate's other refusals unchanged
    const free = await curl(url('/api/orders/7'), { token: reader.access });
    assert.equal(free.status, 200);
    assert.equal(free.headers.ratelimit, undefined);
    assert.equal((await curl(url('/api/orders'), { method: 'POST', token: lim.access, data: '{}' })).status, 429, 'still limited');
  });
});
