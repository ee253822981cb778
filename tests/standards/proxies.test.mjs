// Behind a proxy (issue 13, point 1): the gate is judged only on the headers its proxy sets,
// and the client address comes from a forwarding header only when a trusted proxy sent it.
//
//   - /gate refuses a request carrying both header forms (X-Original-* and
//     X-Forwarded-Method/Uri) or one of them twice, and --gate-headers pins one form;
//   - examples/nginx.conf and examples/Caddyfile really overwrite the headers the gate reads
//     (a recording server stands in for keygate and sees exactly one of each, the real one);
//   - the Caddy example in front of keygate: a client's X-Original-* gets a refusal, never a
//     judgement on the client's own pair;
//   - --trusted-proxy: behind nginx the audit log's sourceAddress and the per-address
//     throttle use the client's address (right-most untrusted X-Forwarded-For hop), a spoofed
//     X-Forwarded-For changes nothing, and from an untrusted peer the header is ignored.
//
// Client source addresses 127.0.0.x (all local on Linux); every server is on 127.0.0.1.
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/standards/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { h, principal } from './lib.mjs';
import { EXAMPLES, curl, startCaddy, startExampleNginx, startUpstream } from './proxies.mjs';

const { V1, api, startServer, bootstrap, freePort, basic } = h;

const POLICY = `GET /api/orders    orders.read
GET /api/orders/*  orders.read
POST /api/orders   orders.write
`;

/* A /gate check with raw header lines: headers is a list of [name, value] (names may repeat). */
function gateRaw(port, headers, from = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const flat = ['Host', `127.0.0.1:${port}`]; // a raw header list gets no default Host
    for (const [k, v] of headers) flat.push(k, v);
    const req = http.request({ host: '127.0.0.1', port, path: '/gate', method: 'GET', headers: flat,
      localAddress: from, agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/* Stands in for keygate's /gate: answers 204 and records each request's raw header lines. */
function startRecorder() {
  const seen = [];
  const srv = http.createServer((req, res) => {
    seen.push({ url: req.url, raw: req.rawHeaders });
    if (req.url === '/_ready') { res.writeHead(204); res.end(); return; }
    res.writeHead(204, { 'X-Keygate-Client-Id': 'kgc_RECORDERRECORDER', 'X-Keygate-Role': 'recorded' });
    res.end();
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => resolve({
      port: srv.address().port, seen,
      close: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(() => r()); }),
    }));
  });
}

/* The values of header `name` in a raw header list, in order. */
function values(raw, name) {
  const out = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() === name.toLowerCase()) out.push(raw[i + 1]);
  return out;
}

/* examples/Caddyfile with the addresses of this run. */
function caddyExample(cport, kport, uport) {
  let conf = fs.readFileSync(path.join(EXAMPLES, 'Caddyfile'), 'utf8');
  const subst = (from, to) => {
    assert.ok(conf.includes(from), `examples/Caddyfile should contain "${from}"`);
    conf = conf.split(from).join(to);
  };
  subst('127.0.0.1:8080', `127.0.0.1:${kport}`);
  subst('127.0.0.1:9000', `127.0.0.1:${uport}`);
  subst('http://127.0.0.1:8000 {', `http://127.0.0.1:${cport} {\n\thandle /_ready {\n\t\trespond 204\n\t}`);
  return conf;
}

describe('/gate: one header form, each header once', () => {
  let dir;
  let auto;
  let original;
  let forwarded;
  let reader;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-forms-'));
    const policy = path.join(dir, 'policy.txt');
    fs.writeFileSync(policy, POLICY);
    const issuer = ['--issuer', 'http://keygate.test'];
    auto = await startServer({ args: ['--policy', policy, ...issuer] });
    const admin = await bootstrap(auto, 'forms admin');
    reader = await principal(auto.base, admin.access, 'forms_reader', ['orders.read']);
    // The pinned servers share the database (and keys) of the first one.
    original = await startServer({ dir: auto.dir, args: ['--policy', policy, ...issuer, '--gate-headers', 'nginx'] });
    forwarded = await startServer({ dir: auto.dir, args: ['--policy', policy, ...issuer, '--gate-headers', 'traefik'] });
  });

  after(async () => {
    for (const s of [forwarded, original, auto]) { try { if (s) await s.stop(); } catch { /* keep going */ } }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const bearer = () => ['Authorization', `Bearer ${reader.access}`];
  const orig = (m, u) => [['X-Original-Method', m], ['X-Original-URI', u]];
  const fwd = (m, u) => [['X-Forwarded-Method', m], ['X-Forwarded-Uri', u]];

  test('auto: either form alone is judged', async () => {
    for (const hs of [orig('GET', '/api/orders/1'), fwd('GET', '/api/orders/1')]) {
      const r = await gateRaw(auto.port, [bearer(), ...hs]);
      assert.equal(r.status, 204, `${JSON.stringify(hs)}: ${r.status} ${r.text}`);
    }
    const denied = await gateRaw(auto.port, [bearer(), ...orig('POST', '/api/orders')]);
    assert.equal(denied.status, 403, denied.text);
  });

  test('auto: both forms, or one header twice, are refused (400, logged), never judged', async () => {
    const cases = {
      'both forms (the client\'s pair allowed, the proxy\'s not)': [...orig('POST', '/api/orders'), ...fwd('GET', '/api/orders/1')],
      'both forms, the same request': [...orig('GET', '/api/orders/1'), ...fwd('GET', '/api/orders/1')],
      'one header of the other form': [...orig('POST', '/api/orders'), ['X-Forwarded-Uri', '/api/orders/1']],
      'X-Forwarded-Method alone beside X-Original-*': [...orig('GET', '/api/orders/1'), ['X-Forwarded-Method', 'GET']],
      'X-Original-URI twice': [['X-Original-Method', 'GET'], ['X-Original-URI', '/api/orders/1'], ['X-Original-URI', '/api/orders/1']],
      'X-Original-Method twice': [['X-Original-Method', 'GET'], ['X-Original-Method', 'POST'], ['X-Original-URI', '/api/orders']],
      'X-Forwarded-Uri twice': [['X-Forwarded-Method', 'GET'], ['X-Forwarded-Uri', '/api/orders/1'], ['X-Forwarded-Uri', '/x']],
      'X-Forwarded-Method twice': [['X-Forwarded-Method', 'GET'], ['X-Forwarded-Method', 'GET'], ['X-Forwarded-Uri', '/api/orders/1']],
    };
    for (const [what, hs] of Object.entries(cases)) {
      const r = await gateRaw(auto.port, [bearer(), ...hs]);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json.status, 'INVALID_ARGUMENT', `${what}: ${r.text}`);
      assert.equal(r.headers['x-keygate-client-id'], undefined, what);
    }
    // the request's own line, at warning: the client's address and what was wrong
    assert.match(auto.stderr, / warn +req=\d+ GET \/gate 400 .* client=127\.0\.0\.1 .*error="both X-Original-\* and X-Forwarded-Method\/Uri/);
    assert.match(auto.stderr, / warn +req=\d+ GET \/gate 400 .* client=127\.0\.0\.1 .*error="a gate header is sent more than once/);
  });

  test('--gate-headers nginx: X-Original-* only; any X-Forwarded-Method/Uri is refused', async () => {
    assert.equal((await gateRaw(original.port, [bearer(), ...orig('GET', '/api/orders/1')])).status, 204);
    for (const hs of [fwd('GET', '/api/orders/1'), [['X-Forwarded-Uri', '/api/orders/1']], [...orig('GET', '/api/orders/1'), ['X-Forwarded-Method', 'GET']]]) {
      const r = await gateRaw(original.port, [bearer(), ...hs]);
      assert.equal(r.status, 400, `${JSON.stringify(hs)}: ${r.status} ${r.text}`);
    }
    assert.match(original.stderr, /X-Forwarded-Method\/Uri are refused: the gate reads X-Original-\*/);
  });

  test('--gate-headers traefik: X-Forwarded-Method/Uri only; any X-Original-* is refused', async () => {
    assert.equal((await gateRaw(forwarded.port, [bearer(), ...fwd('GET', '/api/orders/1')])).status, 204);
    for (const hs of [orig('GET', '/api/orders/1'), [['X-Original-URI', '/api/orders/1']], [...fwd('GET', '/api/orders/1'), ['X-Original-Method', 'GET']]]) {
      const r = await gateRaw(forwarded.port, [bearer(), ...hs]);
      assert.equal(r.status, 400, `${JSON.stringify(hs)}: ${r.status} ${r.text}`);
    }
    assert.match(forwarded.stderr, /X-Original-\* are refused: the gate reads X-Forwarded-Method\/Uri/);
  });

  test('a bad --gate-headers or --trusted-proxy stops the start with a clear message', async () => {
    for (const [args, msg] of [[['--gate-headers', 'haproxy'], /--gate-headers is auto, original/],
      [['--trusted-proxy', '10.0.0.0/33'], /--trusted-proxy: '10\.0\.0\.0\/33' is not an address or CIDR range/],
      [['--forwarded-header', 'X-Client-IP'], /--forwarded-header is X-Forwarded-For, Forwarded or X-Real-IP/]]) {
      const r = h.cli(path.join(dir, 'other.db'), ['serve', '--listen', '127.0.0.1:1', ...args]);
      assert.notEqual(r.status, 0, `${args.join(' ')} must not start`);
      assert.match(`${r.stdout}${r.stderr}`, msg);
    }
  });
});

describe('the example proxies overwrite the headers the gate reads', () => {
  let dir;
  let rec;
  let up;
  let ngx;
  let caddy;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-overwrite-'));
    rec = await startRecorder();
    up = await startUpstream();
    ngx = await startExampleNginx(path.join(dir, 'nginx'), rec.port, up.port);
    const cport = await freePort();
    caddy = await startCaddy(path.join(dir, 'caddy'), cport, caddyExample(cport, rec.port, up.port));
  });

  after(async () => {
    for (const p of [ngx, caddy]) { try { if (p) await p.stop(); } catch { /* keep going */ } }
    for (const s of [up, rec]) { try { if (s) await s.close(); } catch { /* keep going */ } }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const spoof = {
    'X-Original-Method': 'GET', 'X-Original-URI': '/api/public',
    'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/api/public',
  };

  test('nginx (examples/nginx.conf): exactly one X-Original-Method and X-Original-URI, the real ones', async () => {
    const n = rec.seen.length;
    const r = await curl(`http://127.0.0.1:${ngx.port}/api/orders/7?x=1`, { method: 'DELETE', headers: spoof });
    assert.equal(r.status, 200, `${r.status} ${r.body}\n${ngx.errorLog()}`);
    const check = rec.seen.slice(n).find((s) => s.url === '/gate');
    assert.ok(check, 'nginx asked the gate');
    assert.deepEqual(values(check.raw, 'X-Original-Method'), ['DELETE']);
    assert.deepEqual(values(check.raw, 'X-Original-URI'), ['/api/orders/7?x=1']);
    // what nginx does not set arrives as the client sent it: keygate's auto mode refuses it
    assert.deepEqual(values(check.raw, 'X-Forwarded-Uri'), ['/api/public']);
  });

  test('Caddy (examples/Caddyfile): exactly one X-Forwarded-Method and X-Forwarded-Uri, the real ones', async () => {
    const n = rec.seen.length;
    const r = await curl(`http://127.0.0.1:${caddy.port}/api/orders/7?x=1`, { method: 'DELETE', headers: spoof });
    assert.equal(r.status, 200, `${r.status} ${r.body}\n${caddy.errorLog()}`);
    const check = rec.seen.slice(n).find((s) => s.url.startsWith('/gate'));
    assert.ok(check, `Caddy asked the gate: ${JSON.stringify(rec.seen.slice(n))}`);
    assert.deepEqual(values(check.raw, 'X-Forwarded-Method'), ['DELETE']);
    assert.deepEqual(values(check.raw, 'X-Forwarded-Uri'), ['/api/orders/7?x=1']);
    assert.deepEqual(values(check.raw, 'X-Original-URI'), ['/api/public']);
    // Caddy's own X-Forwarded-For: the client's spoofed one is replaced, not appended to
    const seenFor = values(check.raw, 'X-Forwarded-For');
    assert.equal(seenFor.length, 1, JSON.stringify(seenFor));
  });
});

describe('Caddy in front of keygate (examples/Caddyfile, --gate-headers forwarded)', () => {
  let dir;
  let srv;
  let up;
  let caddy;
  let reader;
  let base;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-caddy-'));
    const policy = path.join(dir, 'policy.txt');
    fs.writeFileSync(policy, POLICY);
    srv = await startServer({ args: ['--policy', policy, '--gate-headers', 'forwarded', '--trusted-proxy', '127.0.0.1'] });
    up = await startUpstream();
    const cport = await freePort();
    caddy = await startCaddy(path.join(dir, 'caddy'), cport, caddyExample(cport, srv.port, up.port));
    base = `http://127.0.0.1:${cport}`;
    const admin = await bootstrap(srv, 'caddy admin');
    reader = await principal(srv.base, admin.access, 'caddy_reader', ['orders.read']);
  });

  after(async () => {
    try { if (caddy) await caddy.stop(); } catch { /* keep going */ }
    try { if (up) await up.close(); } catch { /* keep going */ }
    try { if (srv) await srv.stop(); } catch { /* keep going */ }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('allowed and denied as the policy says; the API sees the gate\'s client id', async () => {
    // Caddy passes the client's query on to /gate: a repeated parameter is no reason to refuse
    const q = await curl(`${base}/api/orders/3?a=1&a=2`, { token: reader.access });
    assert.equal(q.status, 200, `${q.status} ${q.body}`);
    const ok = await curl(`${base}/api/orders/3`, { token: reader.access, headers: { 'X-Keygate-Client-Id': 'kgc_AAAAAAAAAAAAAAAA' } });
    assert.equal(ok.status, 200, `${ok.status} ${ok.body}\n${caddy.errorLog()}`);
    assert.equal(ok.json.clientId, reader.clientId);
    assert.equal(ok.json.role, 'caddy_reader');
    const no = await curl(`${base}/api/orders`, { method: 'POST', token: reader.access, data: '{}' });
    assert.equal(no.status, 403, no.body);
  });

  test('a client\'s X-Original-* is refused, not judged: the API is not called', async () => {
    const n = up.hits.length;
    const r = await curl(`${base}/api/orders`, {
      method: 'POST', token: reader.access, data: '{}',
      headers: { 'X-Original-Method': 'GET', 'X-Original-URI': '/api/orders/1' },
    });
    assert.equal(r.status, 400, `${r.status} ${r.body}`);
    assert.equal(r.json.status, 'INVALID_ARGUMENT');
    assert.equal(up.hits.length, n);
  });

  test('the OAuth endpoint through Caddy: the audit log names the client\'s address', async () => {
    const admin = await bootstrap(srv, 'caddy audit');
    const r = await curl(`${base}${V1}/apiToken/kgc_0000000000000000:revoke`, {
      method: 'POST', token: admin.access, from: '127.0.0.7', headers: { 'X-Forwarded-For': '203.0.113.66' },
    });
    assert.equal(r.status, 404, r.body);
    const log = await api(srv.base, 'GET', `${V1}/auditLog?actor=${admin.clientId}`, { token: admin.access });
    const e = log.json.result.find((x) => x.action === 'apiToken.revoke');
    assert.ok(e, log.text);
    assert.equal(e.sourceAddress, '127.0.0.7');
  });
});

describe('--trusted-proxy behind nginx (examples/nginx.conf)', () => {
  let dir;
  let srv;
  let plain;
  let up;
  let ngx;
  let admin;
  let base;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-trusted-'));
    const policy = path.join(dir, 'policy.txt');
    fs.writeFileSync(policy, POLICY);
    srv = await startServer({ args: ['--policy', policy, '--gate-headers', 'original', '--trusted-proxy', '127.0.0.1'] });
    plain = await startServer();
    up = await startUpstream();
    ngx = await startExampleNginx(path.join(dir, 'nginx'), srv.port, up.port);
    base = `http://127.0.0.1:${ngx.port}`;
    admin = await bootstrap(srv, 'trusted admin');
  });

  after(async () => {
    try { if (ngx) await ngx.stop(); } catch { /* keep going */ }
    try { if (up) await up.close(); } catch { /* keep going */ }
    for (const s of [srv, plain]) { try { if (s) await s.stop(); } catch { /* keep going */ } }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /* The sourceAddress of the newest apiToken.revoke entry of `who` on server s. */
  async function lastRevokeAddress(s, who) {
    const log = await api(s.base, 'GET', `${V1}/auditLog?actor=${who.clientId}`, { token: who.access });
    assert.equal(log.status, 200, log.text);
    const e = log.json.result.find((x) => x.action === 'apiToken.revoke');
    assert.ok(e, log.text);
    return e.sourceAddress;
  }

  test('through nginx: the audit log has the client\'s address, whatever X-Forwarded-For it sent', async () => {
    const r = await curl(`${base}${V1}/apiToken/kgc_0000000000000000:revoke`, {
      method: 'POST', token: admin.access, from: '127.0.0.3', headers: { 'X-Forwarded-For': '203.0.113.9, 127.0.0.1' },
    });
    assert.equal(r.status, 404, `${r.status} ${r.body}\n${ngx.errorLog()}`);
    assert.equal(await lastRevokeAddress(srv, admin), '127.0.0.3');
  });

  test('straight from an untrusted peer, X-Forwarded-For is ignored', async () => {
    const r = await curl(`${srv.base}${V1}/apiToken/kgc_0000000000000000:revoke`, {
      method: 'POST', token: admin.access, from: '127.0.0.5', headers: { 'X-Forwarded-For': '198.51.100.7' },
    });
    assert.equal(r.status, 404, r.body);
    assert.equal(await lastRevokeAddress(srv, admin), '127.0.0.5');
  });

  test('from a trusted peer, more than 16 X-Forwarded-For lines are refused, not half read', async () => {
    const lines = Array.from({ length: 17 }, (_, i) => ['X-Forwarded-For', `198.51.100.${i + 1}`]);
    const r = await gateRaw(srv.port, lines);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.message, /too many forwarding header lines/);
    const ok = await gateRaw(srv.port, lines.slice(0, 16)); // 16 are read: the gate itself answers
    assert.equal(ok.status, 400, ok.text);
    assert.match(ok.json.message, /send the original request/);
  });

  test('without --trusted-proxy, X-Forwarded-For is ignored even from 127.0.0.1', async () => {
    const padmin = await bootstrap(plain, 'plain admin');
    const r = await curl(`${plain.base}${V1}/apiToken/kgc_0000000000000000:revoke`, {
      method: 'POST', token: padmin.access, headers: { 'X-Forwarded-For': '198.51.100.7' },
    });
    assert.equal(r.status, 404, r.body);
    assert.equal(await lastRevokeAddress(plain, padmin), '127.0.0.1');
  });

  test('throttling counts each client behind the proxy apart', async () => {
    const fresh = await principal(srv.base, admin.access, 'behind_nginx', []);
    const exchange = (from, id, secret) => curl(`${base}/oauth/v2/token`, {
      method: 'POST', from,
      headers: { Authorization: basic(id, secret) },
      data: 'grant_type=client_credentials', contentType: 'application/x-www-form-urlencoded',
    });
    // 127.0.0.3 fails with unknown client IDs until its address is throttled (at most 40 tries).
    let throttled = null;
    for (let i = 0; i < 40 && !throttled; i++) {
      const id = `kgc_${String(i).padStart(16, 'Z')}`;
      const r = await exchange('127.0.0.3', id, 'kgs_wrong');
      if (r.status === 429) throttled = r;
      else assert.equal(r.status, 401, r.body);
    }
    assert.ok(throttled, '127.0.0.3 is throttled after its failures');
    assert.ok(Number(throttled.headers['retry-after']) >= 1);
    // A client at 127.0.0.4, behind the same nginx, goes on with its right secret.
    const ok = await exchange('127.0.0.4', fresh.clientId, fresh.clientSecret);
    assert.equal(ok.status, 200, `127.0.0.4 must not share 127.0.0.3's throttle: ${ok.status} ${ok.body}`);
  });
});
