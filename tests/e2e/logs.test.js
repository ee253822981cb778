'use strict';
// The request log: one line a request, in the documented text form or, with --log-format
// json, one JSON object a line with fields of its own; gate checks at debug (the proxy logs
// them already) with the original method and URI, a 400 there at warning, other routes at
// info; and no secret, password or access token on any line.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers.js');

const { V1, api } = h;
let dir, policy;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-logs-'));
  policy = path.join(dir, 'policy.txt');
  fs.writeFileSync(policy, 'GET /api/security ManageSecurity\n');
});

after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/* A request's text line, as README.md documents it. */
const TEXT_LINE = /^(\S+) (\w+) +req=(\d+) (\S+) (\S+) (\d{3}) (\d+\.\d{3})ms (\d+)B client=(\S+) actor=(\S+)( orig="[^"]*")?( error="[^"]*")?$/;
const JSON_FIELDS = ['time', 'level', 'req', 'method', 'path', 'status', 'ms', 'bytes', 'client', 'actor'];

test('the README\'s example lines are in the forms the real lines are held to', () => {
  const md = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
  const section = md.slice(md.indexOf('**Logs** go to stderr'));
  const text = /```text\n([\s\S]*?)\n```/.exec(section)[1].split('\n');
  assert.ok(text.length >= 3);
  for (const l of text) {
    const m = TEXT_LINE.exec(l);
    assert.ok(m, `README example not in the form: ${l}`);
    assert.match(m[1], h.TIME_RE);
  }
  const json = /```json\n([\s\S]*?)\n```/.exec(section)[1].split('\n').map((l) => JSON.parse(l));
  for (const o of json) {
    for (const k of JSON_FIELDS) assert.ok(k in o, `README JSON example lacks ${k}`);
    assert.match(o.time, h.TIME_RE);
  }
});

function gate(srv, method, uri, token, extra = {}) {
  const headers = { 'X-Original-Method': method, 'X-Original-URI': uri, ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(`${srv.base}/gate`, { headers, signal: AbortSignal.timeout(10000) }).then((r) => r.status);
}

/* Waits until the server has written the line of every request made so far (lines are written
 * after the answer is queued). */
async function settle(srv, n, count) {
  const w = await h.waitFor(() => count(srv.stderr) >= n, 2000, 20);
  assert.ok(w.ok, `expected ${n} request lines:\n${srv.stderr}`);
}

/* Requests of each kind; returns what no log line may contain. */
async function traffic(srv) {
  const boot = await h.bootstrap(srv, 'logs');
  const secrets = [boot.clientSecret, boot.access];
  const r = await api(srv.base, 'POST', `${V1}/apiToken`, { token: boot.access, body: { description: 'x', roleId: 'r-0000000001' } });
  assert.equal(r.status, 201, r.text);
  secrets.push(r.json.clientSecret);
  const weak = await h.accessToken(srv.base, r.json.clientId, r.json.clientSecret);
  secrets.push(weak);
  assert.equal(await gate(srv, 'GET', '/api/security', boot.access), 204);
  assert.equal(await gate(srv, 'DELETE', `/api/security?token=${weak}&secret=${r.json.clientSecret}`, weak), 403);
  assert.equal(await gate(srv, 'GET', '/api/security', `${boot.access}x`), 401);
  assert.equal(await gate(srv, 'GET', '/api/security', boot.access, { 'X-Forwarded-Uri': '/x' }), 400);
  assert.equal((await api(srv.base, 'GET', `${V1}/apiToken/${r.json.clientSecret}`, { token: boot.access })).status, 404);
  assert.equal((await h.exchange(srv.base, r.json.clientId, h.wrongSecret(r.json.clientSecret))).status, 401);
  secrets.push(h.wrongSecret(r.json.clientSecret));
  return { boot, clientId: r.json.clientId, secrets };
}

test('--log-format json: every line is a JSON object; one a request, with its own fields', async () => {
  const srv = await h.startServer({ args: ['--policy', policy, '--log-format', 'json', '--log-level', 'debug'] });
  try {
    const { boot, clientId, secrets } = await traffic(srv);
    const requests = (text) => text.split('\n').filter((l) => l.includes('"status":')).length;
    await settle(srv, 1, requests);
    await h.sleep(100);
    const lines = srv.stderr.split('\n').filter((l) => l !== '');
    const objs = lines.map((l) => {
      try { return JSON.parse(l); } catch (e) { assert.fail(`not JSON: ${l}`); }
    });
    for (const o of objs) {
      assert.match(o.time, h.TIME_RE);
      assert.ok(['error', 'warn', 'notice', 'info', 'debug'].includes(o.level), o.level);
    }
    const reqs = objs.filter((o) => 'status' in o);
    const ids = reqs.map((o) => o.req);
    assert.equal(new Set(ids).size, ids.length, 'one line a request');
    for (const o of reqs) {
      for (const k of JSON_FIELDS) assert.ok(k in o, `${k} in ${JSON.stringify(o)}`);
      assert.equal(typeof o.ms, 'number');
      assert.equal(o.client, '127.0.0.1');
      assert.equal(o.msg, undefined, 'fields, not a message');
    }
    const gates = reqs.filter((o) => o.path === '/gate');
    assert.equal(gates.length, 4);
    assert.deepEqual(gates.map((o) => [o.status, o.level]), [[204, 'debug'], [403, 'debug'], [401, 'debug'], [400, 'warn']]);
    assert.deepEqual([gates[0].orig_method, gates[0].orig_uri, gates[0].actor], ['GET', '/api/security', boot.clientId]);
    assert.equal(gates[1].orig_method, 'DELETE');
    assert.equal(gates[1].orig_uri, '/api/security', 'the path only: a query may carry anything');
    assert.equal(gates[1].actor, clientId);
    assert.equal(gates[2].actor, null, 'a refused bearer names nobody');
    assert.match(gates[3].error, /both X-Original-\* and X-Forwarded-Method\/Uri/);
    const list = reqs.find((o) => o.path === `${V1}/apiToken` && o.method === 'POST');
    assert.deepEqual([list.level, list.status, list.actor], ['info', 201, boot.clientId]);
    const miss = reqs.find((o) => o.status === 404);
    assert.equal(miss.path, `${V1}/apiToken/[redacted]`);
    assert.match(miss.error, /token/, 'what the 404 answered');
    const tok = reqs.filter((o) => o.path === '/oauth/v2/token');
    assert.ok(tok.some((o) => o.status === 200 && o.actor === clientId), 'an exchange names its client');
    assert.ok(tok.some((o) => o.status === 401 && o.actor === null && /^invalid_client: /.test(o.error)));
    for (const s of secrets) {
      assert.ok(!srv.stderr.includes(s), `a secret or token reached the log: ${s.slice(0, 12)}…`);
      assert.ok(!srv.stderr.includes(s.slice(4, 24)), `part of a secret or token reached the log: ${s.slice(0, 12)}…`);
    }
  } finally {
    await srv.stop();
  }
});

test('text lines at the default level: one line a request; gate checks, health checks and scrapes only at debug, but a bad gate request at warning', async () => {
  const srv = await h.startServer({ args: ['--policy', policy] });
  try {
    const { boot, secrets } = await traffic(srv);
    assert.equal((await fetch(`${srv.base}/metrics`)).status, 200);
    const re = TEXT_LINE;
    const requests = (text) => text.split('\n').filter((l) => / req=\d+ [A-Z]+ \//.test(l)).length;
    await settle(srv, 1, requests);
    await h.sleep(100);
    const lines = srv.stderr.split('\n').filter((l) => / req=\d+ [A-Z]+ \//.test(l));
    const parsed = lines.map((l) => {
      const m = re.exec(l);
      assert.ok(m, `not in the documented form: ${l}`);
      return { level: m[2], req: m[3], method: m[4], path: m[5], status: Number(m[6]), actor: m[10], line: l };
    });
    assert.equal(new Set(parsed.map((p) => p.req)).size, parsed.length, 'one line a request');
    const gates = parsed.filter((p) => p.path === '/gate');
    assert.deepEqual(gates.map((p) => [p.level, p.status]), [['warn', 400]], 'allowed and refused checks are at debug');
    assert.match(gates[0].line, / error="both X-Original-\* and X-Forwarded-Method\/Uri are present/);
    assert.ok(parsed.some((p) => p.level === 'info' && p.method === 'POST' && p.path === `${V1}/apiToken` && p.status === 201 && p.actor === boot.clientId));
    assert.ok(parsed.some((p) => p.level === 'info' && p.path === `${V1}/apiToken/[redacted]` && p.status === 404 && / error="[^"]+"$/.test(p.line)));
    assert.ok(!parsed.some((p) => p.path === '/healthz' || p.path === '/metrics'), 'health checks and scrapes are at debug');
    assert.doesNotMatch(srv.stderr, /\bthrottled for\b|POST \/oauth: \d+/, 'no second line for a request');
    for (const s of secrets) assert.ok(!srv.stderr.includes(s.slice(4, 24)), `part of a secret or token reached the log: ${s.slice(0, 12)}…`);
  } finally {
    await srv.stop();
  }
});

test('--log-format accepts text and json only', () => {
  const r = h.cli(path.join(dir, 'none.db'), ['--log-format', 'xml', 'token', 'list']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--log-format is text or json/);
});
