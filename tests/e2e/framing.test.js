'use strict';
// HTTP framing (issue 13, point 2): requests whose length is ambiguous (RFC 9112 §6.1, §6.3),
// unsupported transfer codings, unknown versions, malformed request lines, bad chunking, bad
// Content-Length and over-long headers are answered at once with keygate's JSON (the OAuth
// form under /oauth/) and security headers, and the connection is closed: a request
// smuggled behind them is never answered.  Raw `net` sockets to 127.0.0.1; every wait bounded.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./helpers.js');

let srv;
let https; // a server whose issuer is https://: Strict-Transport-Security on every answer

before(async () => {
  srv = await h.startServer();
  https = await h.startServer({ args: ['--issuer', 'https://keygate.example'] });
});

after(async () => {
  if (srv) await srv.stop();
  if (https) await https.stop();
});

/*
 * Sends `bytes` on a fresh connection and collects what comes back until the server closes
 * or `waitMs` passes.  Resolves {responses: [{status, headers, text, json}], closed, ms, raw}.
 */
function exchange(port, bytes, waitMs = 3000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    let closed = false;
    let err = null;
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ responses: parseResponses(raw), closed, err, ms: Date.now() - t0, raw });
    };
    const timer = setTimeout(done, waitMs);
    sock.on('connect', () => sock.write(Buffer.from(bytes, 'latin1')));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => { err = e.code || e.message; });
    sock.on('close', () => { closed = true; done(); });
  });
}

/* Splits a byte stream into HTTP responses (Content-Length framed). */
function parseResponses(raw) {
  const out = [];
  let rest = raw;
  while (rest.startsWith('HTTP/')) {
    const sep = rest.indexOf('\r\n\r\n');
    if (sep < 0) break;
    const lines = rest.slice(0, sep).split('\r\n');
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(lines[0])?.[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers['content-length'] || 0);
    const text = Buffer.from(rest.slice(sep + 4), 'latin1').subarray(0, len).toString('utf8');
    let json;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    out.push({ status, headers, text, json });
    rest = rest.slice(sep + 4 + len);
  }
  return out;
}

const SECURITY = ['content-security-policy', 'x-frame-options', 'referrer-policy', 'x-content-type-options'];

/* One answer of `status`, JSON in keygate's form (or OAuth's), with the security headers,
 * then the connection closed by the server, and nothing more answered. */
function assertRefused(r, status, what, { oauth = false, hsts = false } = {}) {
  assert.ok(r.responses.length >= 1, `${what}: no answer within ${r.ms} ms (closed: ${r.closed}, ${r.err || ''}) ${JSON.stringify(r.raw.slice(0, 200))}`);
  const [a] = r.responses;
  assert.equal(a.status, status, `${what}: status ${a.status}: ${a.text}`);
  assert.match(a.headers['content-type'] || '', /^application\/json/, `${what}: content type`);
  assert.ok(a.json && typeof a.json === 'object', `${what}: the body is JSON: ${a.text.slice(0, 200)}`);
  if (oauth) {
    assert.equal(a.json.error, 'invalid_request', `${what}: OAuth form: ${a.text}`);
    assert.equal(typeof a.json.error_description, 'string', `${what}: OAuth form: ${a.text}`);
  } else {
    assert.equal(a.json.code, status, `${what}: ${a.text}`);
    assert.equal(typeof a.json.message, 'string', `${what}: ${a.text}`);
    assert.equal(typeof a.json.status, 'string', `${what}: ${a.text}`);
  }
  for (const name of SECURITY) assert.ok(a.headers[name], `${what}: the answer lacks ${name}`);
  assert.equal(Boolean(a.headers['strict-transport-security']), hsts, `${what}: Strict-Transport-Security ${hsts ? 'missing' : 'unexpected'}`);
  assert.equal((a.headers.connection || '').toLowerCase(), 'close', `${what}: Connection: close`);
  assert.ok(r.closed, `${what}: the server should close the connection after the answer`);
  assert.equal(r.responses.length, 1, `${what}: only one answer; a request behind it must not be answered (${r.responses.map((x) => x.status)})`);
  assert.ok(r.ms < 2500, `${what}: answered and closed at once, not after ${r.ms} ms`);
}

const SMUGGLED = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

test('Content-Length with Transfer-Encoding: 400, closed, the smuggled request not answered', async () => {
  const r = await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
    'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + SMUGGLED);
  assertRefused(r, 400, 'CL + TE');
  const r2 = await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    'Transfer-Encoding: chunked\r\nContent-Length: 48\r\n\r\n0\r\n\r\n' + SMUGGLED);
  assertRefused(r2, 400, 'TE + CL');
});

test('two Content-Length values that differ: 400, closed, the rest not read as a request', async () => {
  const r = await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    'Content-Length: 0\r\nContent-Length: 44\r\n\r\n' + SMUGGLED);
  assertRefused(r, 400, 'two Content-Length');
  const r2 = await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    'Content-Length: 0, 44\r\n\r\n' + SMUGGLED);
  assertRefused(r2, 400, 'Content-Length list');
});

test('a Transfer-Encoding other than plain chunked: 501 at once and closed, no silent wait', async () => {
  for (const te of ['gzip', 'chunked, gzip', 'gzip, chunked', 'identity']) {
    const r = await exchange(srv.port, `POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: ${te}\r\n\r\n`);
    assertRefused(r, 501, `Transfer-Encoding: ${te}`);
  }
  const twice = await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + SMUGGLED);
  assertRefused(twice, 501, 'Transfer-Encoding twice');
});

test('Transfer-Encoding in an HTTP/1.0 request: 400 and closed, even with keep-alive (RFC 9112 §6.1)', async () => {
  const r = await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.0\r\nConnection: keep-alive\r\n' +
    'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + SMUGGLED);
  assertRefused(r, 400, 'HTTP/1.0 + TE');
});

test('five thousand pipelined requests sent at once are all answered', async () => {
  const n = 5000; // more answers than the server queues unread (256 KiB) before it waits
  const r = await exchange(srv.port, SMUGGLED.repeat(n - 1) + 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 8000);
  assert.equal(r.responses.length, n, `${r.responses.length} of ${n} answered in ${r.ms} ms (closed: ${r.closed})`);
  assert.ok(r.responses.every((x) => x.status === 200));
  assert.ok(r.closed, 'closed after the last, Connection: close');
});

test('what the HTTP layer refuses by itself is JSON with the security headers', async () => {
  assertRefused(await exchange(srv.port, 'GET /healthz HTTP/9.1\r\nHost: 127.0.0.1\r\n\r\n'), 505, 'HTTP/9.1');
  assertRefused(await exchange(srv.port, 'GET /healthz HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n'), 505, 'HTTP/2.0 as text');
  assertRefused(await exchange(srv.port, '\x01\x02garbage request line\r\n\r\n'), 400, 'garbage request line');
  assertRefused(await exchange(srv.port, 'GET /he llo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'), 400, 'space in the target');
  assertRefused(await exchange(srv.port, 'GET /healthz HTTP/1.1\r\n\r\n'), 400, 'HTTP/1.1 without Host');
  assertRefused(await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n'), 400, 'bad Content-Length');
  assertRefused(await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n'), 400, 'negative Content-Length');
  assertRefused(await exchange(srv.port, 'POST /public/api/v1/apiToken HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n' + SMUGGLED),
    400, 'bad chunk size');
  assertRefused(await exchange(srv.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n folded\r\n\r\n' + SMUGGLED), 400, 'obs-fold');
  const big = await exchange(srv.port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(140 * 1024)}\r\n\r\n`);
  assertRefused(big, 431, '140 KB header');
  // ...and the server still serves.
  const ok = await exchange(srv.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  assert.equal(ok.responses[0]?.status, 200, `then /healthz: ${ok.raw.slice(0, 200)}`);
});

test('under /oauth/ the refusals take the OAuth error form', async () => {
  const r = await exchange(srv.port, 'POST /oauth/v2/token HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + SMUGGLED);
  assertRefused(r, 400, 'CL + TE on /oauth/v2/token', { oauth: true });
  const te = await exchange(srv.port, 'POST /oauth/v2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n');
  assertRefused(te, 501, 'gzip on /oauth/v2/token', { oauth: true });
  const v = await exchange(srv.port, 'POST /oauth/v2/token HTTP/3.0\r\nHost: 127.0.0.1\r\n\r\n');
  assertRefused(v, 505, 'HTTP/3.0 on /oauth/v2/token', { oauth: true });
});

test('keep-alive and pipelining still work; a good request before a refused one is answered', async () => {
  const two = await exchange(srv.port, SMUGGLED + 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  assert.deepEqual(two.responses.map((x) => x.status), [200, 200], two.raw.slice(0, 300));
  assert.ok(two.closed, 'closed after Connection: close');
  const mixed = await exchange(srv.port, SMUGGLED + 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab' + SMUGGLED);
  assert.deepEqual(mixed.responses.map((x) => x.status), [200, 400], mixed.raw.slice(0, 300));
  assert.ok(mixed.closed, 'closed after the refusal');
  const http10 = await exchange(srv.port, 'GET /healthz HTTP/1.0\r\n\r\n');
  assert.equal(http10.responses[0]?.status, 200, http10.raw.slice(0, 200));
  assert.ok(http10.closed, 'HTTP/1.0 without keep-alive is closed');
  const chunked = await exchange(srv.port, 'POST /oauth/v2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
    'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\ngrant\r\n18\r\n_type=client_credentials\r\n0\r\n\r\n');
  assert.equal(chunked.responses[0]?.status, 401, `a chunked body is read (no credentials: 401): ${chunked.raw.slice(0, 300)}`);
});

test('with an https:// issuer every answer carries Strict-Transport-Security', async () => {
  const ok = await exchange(https.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  assert.equal(ok.responses[0]?.status, 200, ok.raw.slice(0, 200));
  assert.match(ok.responses[0].headers['strict-transport-security'] || '', /max-age=\d+/, 'HSTS on a handler answer');
  assertRefused(await exchange(https.port, 'GET /healthz HTTP/9.1\r\nHost: 127.0.0.1\r\n\r\n'), 505, 'HTTP/9.1 (https issuer)', { hsts: true });
  const plain = await exchange(srv.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  assert.equal(plain.responses[0]?.headers['strict-transport-security'], undefined, 'no HSTS with an http:// issuer');
});
