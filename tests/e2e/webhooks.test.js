'use strict';
// Webhooks (issue 19): every audit event POSTed as JSON to each `serve --webhook` URL, signed
// with HMAC-SHA256 (Keygate-Signature: t=…,v1=…), from a queue kept in the store.  Two local
// receivers on 127.0.0.1 verify every signature as the README tells receivers to: A always
// answers 200; B answers what each test makes it answer (500 then 200, or nothing at all).
// keygate runs with small delivery bounds (1 s backoff, 2 s timeout, 3 attempts) so that a
// failure is reached in seconds.  Then a restart: nothing delivered twice, nothing lost.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers.js');
const { startReceiver } = require('./webhook_receiver.js');

const { V1, api } = h;
const VERSION = /#define KG_VERSION "([^"]+)"/.exec(
  fs.readFileSync(path.resolve(__dirname, '../../src/base/version.h'), 'utf8'))[1];
const SECRET_A = 'whsec-a-0123456789abcdefghijklmnop';
const SECRET_B = 'whsec-b-qrstuvwxyz9876543210ABCDEF';
const ADMIN = 'r-0000000001'; // accountadmin
const BOUNDS = ['--webhook-timeout', '2', '--webhook-attempts', '3', '--webhook-backoff', '1'];

let dir, srv, boot, A, B, fileA, fileB, urlA;

function hookArgs() {
  return ['--webhook', `${urlA} secret-file=${fileA}`, '--webhook', `${B.url} secret-file=${fileB}`];
}

/* Requests r received for audit entries whose target is `target`. */
const about = (r, target) => r.got.filter((e) => e.json && e.json.data.target === target);

async function webhooks(token = boot.access) {
  const r = await api(srv.base, 'GET', `${V1}/webhook`, { token });
  assert.equal(r.status, 200, r.text);
  return r.json.result;
}

async function metric(name, labels) {
  const text = await (await fetch(`${srv.base}/metrics`, { signal: AbortSignal.timeout(10000) })).text();
  const sel = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
  const m = new RegExp(`^${name}\\{${sel}\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-webhooks-'));
  fileA = path.join(dir, 'a.secret');
  fileB = path.join(dir, 'b.secret');
  fs.writeFileSync(fileA, `${SECRET_A}\n`, { mode: 0o600 });
  fs.writeFileSync(fileB, `${SECRET_B}\n`, { mode: 0o600 });
  A = await startReceiver(SECRET_A);
  B = await startReceiver(SECRET_B);
  urlA = `${A.url}?key=query-part-not-shown`; // a query is sent, never shown
  srv = await h.startServer({ dir, keepDir: true, args: [...hookArgs(), ...BOUNDS] });
  boot = await h.bootstrap(srv, 'webhooks');
});

after(async () => {
  if (srv) await srv.stop();
  if (A) await A.close();
  if (B) await B.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a token created and revoked: both events arrive signed, in order, with the documented headers', async () => {
  const c = await api(srv.base, 'POST', `${V1}/apiToken`, {
    token: boot.access, body: { roleId: ADMIN, description: 'hooked' } });
  assert.equal(c.status, 201, c.text);
  const id = c.json.clientId;
  const rv = await api(srv.base, 'POST', `${V1}/apiToken/${id}:revoke`, { token: boot.access });
  assert.equal(rv.status, 200, rv.text);
  for (const r of [A, B]) {
    const w = await h.waitFor(() => about(r, id).length >= 2, 10000);
    assert.ok(w.ok, `both events reach ${r.url} within 10 s: ${JSON.stringify(about(r, id).map((e) => e.json.type))}`);
  }
  const got = about(A, id);
  assert.deepEqual(got.map((e) => e.json.type), ['apiToken.create', 'apiToken.revoke']);
  for (const e of got) {
    assert.equal(e.method, 'POST');
    assert.equal(e.url, '/hook?key=query-part-not-shown', 'the whole URL is used');
    assert.ok(e.verified.ok, `the signature verifies: ${e.verified.why}`);
    assert.ok(Math.abs(e.verified.t - e.at / 1000) < 5, 't is the time of sending');
    assert.equal(e.headers['content-type'], 'application/json');
    assert.equal(e.headers['user-agent'], `keygate/${VERSION}`);
    assert.match(e.json.id, /^evt_\d+$/);
    assert.equal(e.headers['keygate-event-id'], e.json.id);
    assert.equal(e.headers['keygate-event-type'], e.json.type);
    assert.equal(e.headers['keygate-delivery-attempt'], '1');
    assert.match(e.json.createdOn, h.TIME_RE);
    assert.equal(e.json.data.action, e.json.type);
    assert.equal(e.json.data.actor, boot.clientId);
    assert.equal(e.json.data.outcome, 'OK');
    assert.equal(e.json.data.time, e.json.createdOn);
    // a signature made with the other receiver's secret does not verify
    const wrong = require('./webhook_receiver.js').verify(SECRET_B, e.headers['keygate-signature'], e.body);
    assert.equal(wrong.ok, false);
  }
  assert.ok(Number(got[0].json.id.slice(4)) < Number(got[1].json.id.slice(4)), 'ids grow in log order');
  // the same entries as the audit log renders them
  const log = await api(srv.base, 'GET', `${V1}/auditLog?actor=${boot.clientId}`, { token: boot.access });
  const entries = log.json.result.filter((e) => e.target === id).reverse();
  assert.deepEqual(got.map((e) => e.json.data), entries);
  // every request A got, in order, each once
  const ids = A.got.map((e) => Number(e.json.id.slice(4)));
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
  assert.equal(new Set(ids).size, ids.length);
});

test('a receiver answering 500 then 200: the event is retried after the backoff and delivered', async () => {
  const seen = new Map();
  B.answer = (e) => {
    const n = (seen.get(e.json.id) || 0) + 1;
    seen.set(e.json.id, n);
    return n === 1 ? 500 : 200;
  };
  const before = (await webhooks()).find((w) => w.url === B.url);
  const c = await api(srv.base, 'POST', `${V1}/apiToken`, {
    token: boot.access, body: { roleId: ADMIN, description: 'retry me' } });
  assert.equal(c.status, 201);
  const w = await h.waitFor(() => about(B, c.json.clientId).length >= 2, 15000);
  assert.ok(w.ok, 'a second attempt within 15 s');
  const [first, second] = about(B, c.json.clientId);
  assert.equal(first.json.id, second.json.id, 'the same event again');
  assert.equal(first.headers['keygate-delivery-attempt'], '1');
  assert.equal(second.headers['keygate-delivery-attempt'], '2');
  assert.ok(second.at - first.at >= 900, `the retry waited the 1 s backoff (${second.at - first.at} ms)`);
  assert.ok(second.verified.ok && first.verified.ok);
  assert.ok(second.verified.t >= first.verified.t, 'each attempt is signed afresh');
  const st = await h.waitFor(async () => {
    const x = (await webhooks()).find((y) => y.url === B.url);
    return x.delivered === before.delivered + 1 && x.attempts === 0 ? x : null;
  }, 5000);
  assert.ok(st.ok, 'the delivery is counted');
  assert.equal(st.value.lastStatus, 200);
  assert.equal(st.value.lastError, null);
  assert.equal(st.value.failed, 0);
  assert.ok(await metric('keygate_webhook_deliveries_total', { webhook: st.value.id, outcome: 'retried' }) >= 1);
  B.answer = () => 200;
});

test('a receiver that never answers: requests stay fast, and the event is given up after its attempts', async () => {
  B.answer = () => 'hang';
  const c = await api(srv.base, 'POST', `${V1}/apiToken`, {
    token: boot.access, body: { roleId: ADMIN, description: 'hang' } });
  assert.equal(c.status, 201);
  const hung = c.json.clientId;
  const w = await h.waitFor(() => about(B, hung).length >= 1, 10000);
  assert.ok(w.ok, 'the first attempt reaches B');
  // While B holds the attempt open, the API answers at its usual pace: reads and writes.
  let worst = 0;
  let made;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = i === 4
      ? await api(srv.base, 'POST', `${V1}/apiToken`, { token: boot.access, body: { roleId: ADMIN, description: 'after hang' } })
      : await api(srv.base, 'GET', `${V1}/apiToken/${hung}`, { token: boot.access });
    worst = Math.max(worst, performance.now() - t0);
    assert.equal(r.status, i === 4 ? 201 : 200);
    if (i === 4) made = r.json.clientId;
  }
  assert.ok(worst < 500, `API calls while a webhook hangs took at most ${worst.toFixed(0)} ms (the webhook timeout is 2000)`);
  // 3 attempts of 2 s and backoffs of 1 s and 2 s: given up within ~10 s
  const failed = await h.waitFor(async () => {
    const x = (await webhooks()).find((y) => y.url === B.url);
    return x.failed === 1 ? x : null;
  }, 20000, 250);
  assert.ok(failed.ok, 'the event is recorded as failed within 20 s');
  const f = failed.value.failures[0];
  assert.equal(f.eventId, about(B, hung)[0].json.id);
  assert.equal(f.type, 'apiToken.create');
  assert.equal(f.attempts, 3);
  assert.equal(f.lastStatus, null);
  assert.match(f.error, /time/i);
  assert.equal(about(B, hung).length, 3, 'three attempts, no more');
  assert.deepEqual(about(B, hung).map((e) => e.headers['keygate-delivery-attempt']), ['1', '2', '3']);
  const gaps = about(B, hung).slice(1).map((e, i) => e.at - about(B, hung)[i].at);
  assert.ok(gaps[1] > gaps[0], `the backoff grows: ${gaps}`);
  B.answer = () => 200;
  // the queue moves on: the token made while B hung reaches it
  const next = await h.waitFor(() => about(B, made).length >= 1, 10000);
  assert.ok(next.ok, 'the next event follows the one given up');
  assert.equal(await metric('keygate_webhook_deliveries_total', { webhook: failed.value.id, outcome: 'failed' }), 1);
  assert.ok(await metric('keygate_webhook_deliveries_total', { webhook: failed.value.id, outcome: 'retried' }) >= 3);
});

test('GET /webhook and /metrics: both webhooks, URLs without their query, counts that match', async () => {
  const list = await webhooks();
  assert.deepEqual(list.map((w) => w.url), [A.url, B.url], 'the query part of A is not shown');
  for (const w of list) assert.match(w.id, /^wh_[0-9a-f]{16}$/);
  const a = list[0];
  const w = await h.waitFor(async () => {
    const x = (await webhooks())[0];
    return x.pending === 0 && x.delivered === A.got.length ? x : null;
  }, 5000);
  assert.ok(w.ok, `A's count is what A received (${A.got.length})`);
  assert.equal(w.value.failed, 0);
  assert.deepEqual(w.value.failures, []);
  assert.equal(await metric('keygate_webhook_deliveries_total', { webhook: a.id, outcome: 'delivered' }), A.got.length);
  assert.equal(await metric('keygate_webhook_pending_events', { webhook: a.id }), 0);
  for (const text of [srv.stderr, JSON.stringify(list), await (await fetch(`${srv.base}/metrics`)).text()]) {
    assert.ok(!text.includes(SECRET_A) && !text.includes(SECRET_B), 'no secret anywhere');
    assert.ok(!text.includes('query-part-not-shown'), 'no query part anywhere');
  }
  // a role without ViewAuditLog may not read it
  const role = await api(srv.base, 'POST', `${V1}/role`, { token: boot.access, body: { grantToCreatingRole: true, roleName: 'hooks_none' } });
  assert.equal(role.status, 200, role.text);
  const t = await api(srv.base, 'POST', `${V1}/apiToken`, { token: boot.access, body: { roleId: role.json.roleId } });
  assert.equal(t.status, 201, t.text);
  const x = await h.exchange(srv.base, t.json.clientId, t.json.clientSecret);
  const r = await api(srv.base, 'GET', `${V1}/webhook`, { token: x.json.access_token });
  assert.equal(r.status, 403);
});

test('a restart keeps each cursor: events made while keygate was down arrive, nothing twice', async () => {
  const settled = await h.waitFor(async () => (await webhooks()).every((w) => w.pending === 0), 10000);
  assert.ok(settled.ok, 'everything delivered before the stop');
  const beforeA = A.got.length;
  await srv.stop();
  const down = h.cliJson(srv.db, ['token', 'create', '--role', 'accountadmin', '--description', 'while down', '--json']);
  // The same webhooks, given in the environment this time (one value, two webhooks).
  srv = await h.startServer({ dir, keepDir: true, args: BOUNDS,
    env: { KEYGATE_WEBHOOK: `${urlA} secret-file=${fileA}\n${B.url} secret-file=${fileB}` } });
  const w = await h.waitFor(() => about(A, down.clientId).length === 1 && about(B, down.clientId).length === 1, 10000);
  assert.ok(w.ok, 'the event made while down reaches both');
  await h.sleep(1500); // a poll or more: any re-delivery would show
  const ids = A.got.map((e) => Number(e.json.id.slice(4)));
  assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
  for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1] + 1, `no event lost: ${ids}`);
  assert.equal(A.got.length, beforeA + 1);
});

test('bad webhook options stop serve with a clear message, the secret never shown', () => {
  const db = path.join(dir, 'other.db');
  const short = path.join(dir, 'short.secret');
  fs.writeFileSync(short, 'tooshort\n');
  const cases = [
    [`ftp://127.0.0.1/x secret-file=${fileA}`, /http:\/\/ or https:\/\//],
    [`${A.url}`, /secret-file=PATH/],
    [`${A.url} secret-file=${path.join(dir, 'missing')}`, /cannot read the webhook secret file/],
    [`${A.url} secret-file=${short}`, /16 to 512 bytes/],
    [`${A.url} secret-file=${fileA} ${A.url} secret-file=${fileB}`, /given twice/],
  ];
  for (const [spec, re] of cases) {
    const r = spawnSync(h.BIN, ['--db', db, 'serve', '--listen', '127.0.0.1:0', '--webhook', spec],
      { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1, `${spec}: exit 1, got ${r.status} ${r.stderr}`);
    assert.match(r.stderr, re, spec);
    assert.ok(!r.stderr.includes(SECRET_A) && !r.stderr.includes('tooshort'), 'no secret in the message');
  }
});

test('https: the receiver\'s certificate is checked; one no CA vouches for is refused, nothing sent', async () => {
  const https = require('node:https');
  const tdir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-webhooks-tls-'));
  const key = path.join(tdir, 'key.pem');
  const cert = path.join(tdir, 'cert.pem');
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
  { encoding: 'utf8', timeout: 20000 });
  assert.equal(gen.status, 0, gen.stderr);
  let requests = 0;
  const tls = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
    requests++;
    res.end('ok');
  });
  await new Promise((r) => tls.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${tls.address().port}/hook`;
  const s2 = await h.startServer({ args: ['--webhook', `${url} secret-file=${fileA}`, '--webhook-attempts', '1', '--webhook-timeout', '2'] });
  try {
    const t = h.cliJson(s2.db, ['token', 'create', '--role', 'accountadmin', '--json']);
    const x = await h.exchangeCliToken(s2.base, t.clientId, t.clientSecret);
    const w = await h.waitFor(async () => {
      const r = await api(s2.base, 'GET', `${V1}/webhook`, { token: x.json.access_token });
      return r.json.result[0].failed >= 1 ? r.json.result[0] : null;
    }, 10000, 100);
    assert.ok(w.ok, 'the events are given up');
    assert.equal(w.value.url, url);
    assert.match(w.value.failures[0].error, /certificate/i);
    assert.equal(w.value.failures[0].lastStatus, null);
    assert.equal(requests, 0, 'no request reached a receiver keygate could not authenticate');
  } finally {
    await s2.stop();
    tls.closeAllConnections();
    await new Promise((r) => tls.close(r));
    fs.rmSync(tdir, { recursive: true, force: true });
  }
});
