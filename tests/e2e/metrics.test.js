'use strict';
// GET /metrics, read as Prometheus reads it: the text is parsed by Debian's
// python3-prometheus-client (prometheus_client.parser, the reference Python parser), and every
// count the test can cause — token exchanges issued and refused, gate checks allowed, denied
// and invalid, a throttled client, REST calls by route — moves by exactly what the test did.
// No client ID or token may appear in it.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers.js');

const { V1, api } = h;
const PYTHON = '/usr/bin/python3'; // Debian's: a pyenv python3 on PATH lacks Debian's modules
const VERSION = /#define KG_VERSION "([^"]+)"/.exec(
  fs.readFileSync(path.resolve(__dirname, '../../src/base/version.h'), 'utf8'))[1];

/* Every sample of `text` as {name, labels, value}, parsed by prometheus_client (which throws
 * on anything that is not valid exposition text), plus each family's type. */
const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {"samples": [], "types": {}}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out["types"][fam.name] = fam.type
    for s in fam.samples:
        out["samples"].append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
`;

function parse(text) {
  const r = spawnSync(PYTHON, ['-c', PARSE], { input: text, encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `prometheus_client could not parse /metrics:\n${r.stderr}\n${text.slice(0, 3000)}`);
  return JSON.parse(r.stdout);
}

/* The value of the sample `name` with exactly these labels (0 when there is none: a labelled
 * series appears once it has happened). */
function value(m, name, labels = {}) {
  const keys = Object.keys(labels);
  const hits = m.samples.filter((s) => s.name === name && Object.keys(s.labels).length === keys.length &&
    keys.every((k) => s.labels[k] === labels[k]));
  assert.ok(hits.length <= 1, `more than one ${name} ${JSON.stringify(labels)}`);
  return hits.length ? hits[0].value : 0;
}

let srv, boot, weak, dir;

async function scrape() {
  const r = await fetch(`${srv.base}/metrics`, { signal: AbortSignal.timeout(10000) });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await r.text();
  return { text, m: parse(text) };
}

function gate(uri, token, extra = {}) {
  const headers = { 'X-Original-Method': 'GET', 'X-Original-URI': uri, ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(`${srv.base}/gate`, { headers, signal: AbortSignal.timeout(10000) }).then((r) => r.status);
}

before(async () => {
  assert.ok(fs.existsSync(PYTHON), `${PYTHON} is missing (scripts/setup.sh test installs it)`);
  dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'keygate-metrics-'));
  const policy = path.join(dir, 'policy.txt');
  fs.writeFileSync(policy, 'GET /api/security ManageSecurity\n');
  srv = await h.startServer({ args: ['--policy', policy] });
  boot = await h.bootstrap(srv, 'metrics');
  const pub = await api(srv.base, 'GET', `${V1}/role/name=public`, { token: boot.access });
  assert.equal(pub.status, 200, pub.text);
  const t = await api(srv.base, 'POST', `${V1}/apiToken`, { token: boot.access, body: { description: 'weak', roleId: pub.json.roleId } });
  assert.equal(t.status, 201, t.text);
  weak = { ...t.json, access: await h.accessToken(srv.base, t.json.clientId, t.json.clientSecret) };
});

after(async () => {
  if (srv) await srv.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('/metrics parses as Prometheus text, and every count moves by exactly what was done', async () => {
  const before0 = await scrape();
  const b = before0.m;
  const E = 'keygate_token_exchanges_total';
  const G = 'keygate_gate_decisions_total';
  const R = 'keygate_http_requests_total';

  // token exchanges: 2 issued, 1 wrong secret, 1 unsupported grant, 1 missing grant_type
  await h.accessToken(srv.base, weak.clientId, weak.clientSecret);
  await h.accessToken(srv.base, weak.clientId, weak.clientSecret);
  assert.equal((await h.exchange(srv.base, weak.clientId, h.wrongSecret(weak.clientSecret))).status, 401);
  assert.equal((await h.tokenRequest(srv.base, 'grant_type=password', { Authorization: h.basic(weak.clientId, weak.clientSecret) })).status, 400);
  assert.equal((await h.tokenRequest(srv.base, 'scope=x', { Authorization: h.basic(weak.clientId, weak.clientSecret) })).status, 400);

  // gate: 3 allowed, 1 denied by privilege, 2 by policy, 1 bad token, 1 no token, 1 bad request
  for (let i = 0; i < 3; i++) assert.equal(await gate('/api/security', boot.access), 204);
  assert.equal(await gate('/api/security', weak.access), 403);
  assert.equal(await gate('/api/unlisted', boot.access), 403);
  assert.equal(await gate('/api/unlisted?x=1', weak.access), 403);
  assert.equal(await gate('/api/security', 'not-a-jwt'), 401);
  assert.equal(await gate('/api/security', null), 401);
  assert.equal(await gate('/api/security', boot.access, { 'X-Forwarded-Uri': '/api/security' }), 400);

  // throttling: a client ID named with wrong secrets from another address, until a 429
  const id = 'kgc_metrics000000001';
  let refused = 0, throttled = 0;
  for (let i = 0; i < 20 && !throttled; i++) {
    const r = await h.postFrom(srv.port, '127.0.0.9', '/oauth/v2/token', 'grant_type=client_credentials',
      { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: h.basic(id, 'kgs_wrong') });
    if (r.status === 401) refused++;
    else if (r.status === 429) throttled++;
    else assert.fail(`unexpected ${r.status} ${r.text}`);
  }
  assert.equal(throttled, 1, 'the client ID is throttled within 20 tries');

  // REST calls: 2 lists, 1 read, 1 read of an unknown token, and a path matching no route
  for (let i = 0; i < 2; i++) assert.equal((await api(srv.base, 'GET', `${V1}/apiToken`, { token: boot.access })).status, 200);
  assert.equal((await api(srv.base, 'GET', `${V1}/apiToken/${weak.clientId}`, { token: boot.access })).status, 200);
  assert.equal((await api(srv.base, 'GET', `${V1}/apiToken/kgc_AAAAAAAAAAAAAAAA`, { token: boot.access })).status, 404);
  assert.equal((await api(srv.base, 'GET', '/no/such/kgc_AAAAAAAAAAAAAAAA', {})).status, 404);

  const { text, m } = await scrape();
  const d = (name, labels) => value(m, name, labels) - value(b, name, labels);
  assert.equal(d(E, { result: 'issued' }), 2);
  assert.equal(d(E, { result: 'invalid_client' }), 1 + refused);
  assert.equal(d(E, { result: 'unsupported_grant_type' }), 1);
  assert.equal(d(E, { result: 'invalid_request' }), 1);
  assert.equal(d(E, { result: 'throttled' }), 1);
  assert.equal(d(E, { result: 'error' }), 0);
  assert.equal(d('keygate_throttled_requests_total', { what: 'client_authentication' }), 1);
  assert.equal(d('keygate_throttled_requests_total', { what: 'sign_in' }), 0);
  assert.equal(d(G, { decision: 'allow', reason: 'privilege' }), 3);
  assert.equal(d(G, { decision: 'deny', reason: 'privilege' }), 1);
  assert.equal(d(G, { decision: 'deny', reason: 'policy' }), 2);
  assert.equal(d(G, { decision: 'invalid', reason: 'bad_token' }), 1);
  assert.equal(d(G, { decision: 'invalid', reason: 'no_token' }), 1);
  assert.equal(d(G, { decision: 'bad_request', reason: 'headers' }), 1);

  const gateN = 3 + 1 + 2 + 1 + 1 + 1;
  assert.equal(d(R, { route: '/gate', method: 'GET', status: '2xx' }), 3);
  assert.equal(d(R, { route: '/gate', method: 'GET', status: '4xx' }), gateN - 3);
  assert.equal(d('keygate_http_request_duration_seconds_count', { route: '/gate' }), gateN);
  assert.equal(d('keygate_http_request_duration_seconds_bucket', { route: '/gate', le: '+Inf' }), gateN);
  assert.ok(d('keygate_http_request_duration_seconds_sum', { route: '/gate' }) > 0);
  assert.equal(d(R, { route: '/oauth/v2/token', method: 'POST', status: '2xx' }), 2);
  assert.equal(d(R, { route: '/oauth/v2/token', method: 'POST', status: '4xx' }), 3 + refused + throttled);
  assert.equal(d(R, { route: `${V1}/apiToken`, method: 'GET', status: '2xx' }), 2);
  assert.equal(d(R, { route: `${V1}/apiToken/{}`, method: 'GET', status: '2xx' }), 1);
  assert.equal(d(R, { route: `${V1}/apiToken/{}`, method: 'GET', status: '4xx' }), 1);
  assert.equal(d(R, { route: 'unmatched', method: 'GET', status: '4xx' }), 1);
  assert.equal(d(R, { route: '/metrics', method: 'GET', status: '2xx' }), 1, 'the first scrape');

  // histograms: cumulative buckets, count = +Inf
  const le = m.samples.filter((s) => s.name === 'keygate_http_request_duration_seconds_bucket' && s.labels.route === '/gate');
  assert.equal(le.length, 16, 'fifteen bounds and +Inf');
  for (let i = 1; i < le.length; i++) assert.ok(le[i].value >= le[i - 1].value, 'cumulative');
  assert.ok(value(m, 'keygate_store_operation_duration_seconds_count', { kind: 'write' }) >= 1, 'the token made above was a store write');

  // types, names, build info, tokens, process
  assert.equal(m.types.keygate_http_requests, 'counter');
  assert.equal(m.types.keygate_http_request_duration_seconds, 'histogram');
  assert.equal(m.types.keygate_api_tokens, 'gauge');
  assert.equal(value(m, 'keygate_build_info', { version: VERSION, signing_alg: 'EdDSA' }), 1);
  assert.equal(value(m, 'keygate_api_tokens', { status: 'active' }), 2, 'the bootstrap token and weak');
  assert.equal(value(m, 'keygate_api_tokens', { status: 'revoked' }), 0);
  const started = value(m, 'process_start_time_seconds');
  assert.ok(Math.abs(started - Date.now() / 1000) < 120, `process_start_time_seconds ${started}`);
  for (const s of m.samples) {
    assert.match(s.name, /^(keygate_|process_)/, s.name);
    for (const v of Object.values(s.labels)) assert.doesNotMatch(v, /^\/public\/api\/v1\/apiToken\/kgc_/, 'a route label is a pattern');
  }
  assert.doesNotMatch(text, /kgc_|kgs_|eyJ/, 'no client ID, secret or token in /metrics');
});

test('keygate_api_tokens follows a revoke, from the in-memory view', async () => {
  const r = await api(srv.base, 'POST', `${V1}/apiToken/${weak.clientId}:revoke`, { token: boot.access });
  assert.equal(r.status, 200, r.text);
  const { m } = await scrape();
  assert.equal(value(m, 'keygate_api_tokens', { status: 'active' }), 1);
  assert.equal(value(m, 'keygate_api_tokens', { status: 'revoked' }), 1);
});

test('/metrics needs no credentials and refuses other methods', async () => {
  const r = await fetch(`${srv.base}/metrics`, { method: 'POST', signal: AbortSignal.timeout(10000) });
  assert.equal(r.status, 405);
  const { m } = await scrape();
  assert.equal(value(m, 'keygate_http_requests_total', { route: '/metrics', method: 'POST', status: '4xx' }), 1);
  assert.doesNotMatch(srv.stderr, /AddressSanitizer|runtime error:|LeakSanitizer/, srv.stderr.slice(-2000));
});
