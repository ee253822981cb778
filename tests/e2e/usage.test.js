'use strict';
// Usage controls (issue 19): a token's rate limit (a token bucket; the RateLimit headers of
// draft-ietf-httpapi-ratelimit-headers on every answer under it, 429 with Retry-After past
// it), its allowed client ranges (IPv4 and IPv6, through the trusted-proxy rules), and its
// usage counts per hour (exchanges, gate allows, API calls, refusals by reason), written in
// batches and read back through GET /apiToken/{clientId}/usage and GET /usage.

const { test, after, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const h = require('./helpers.js');

const { V1 } = h;
const PUBLIC = 'r-0000000002';
const FLUSH_MS = 100;
let srv, boot, policy;

before(async () => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'keygate-usage-'));
  policy = path.join(dir, 'policy.txt');
  fs.writeFileSync(policy, 'GET /api/orders/** orders.read\nPOST /api/orders/** orders.write\n');
  srv = await h.startServer({ args: ['--policy', policy, '--usage-flush-ms', String(FLUSH_MS), '--trusted-proxy', '127.0.0.3'] });
  boot = await h.bootstrap(srv, 'usage tests');
  const grant = await h.api(srv.base, 'POST', `${V1}/role/${PUBLIC}/privilege:grant`,
    { token: boot.access, body: { grantKind: 'Allow', privilege: 'orders.read' } });
  assert.equal(grant.status, 204, grant.text);
});
after(async () => { await srv.stop(); });

async function makeToken(body = {}) {
  const r = await h.api(srv.base, 'POST', `${V1}/apiToken`, { token: boot.access, body: { roleId: PUBLIC, ...body } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
const patch = (clientId, body) => h.api(srv.base, 'PATCH', `${V1}/apiToken/${clientId}`, { token: boot.access, body });

/* A request from the loopback address `from` (127.0.0.2, …: each a different client), with
 * `headers`; resolves {status, headers, json}. */
function from(addr, method, p, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method, path: p, localAddress: addr, agent: false, timeout: 10000, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text, json: text ? JSON.parse(text) : null }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
const gate = (access, addr = '127.0.0.1', uri = '/api/orders/1', extra = {}) => from(addr, 'GET', '/gate',
  { Authorization: `Bearer ${access}`, 'X-Original-Method': 'GET', 'X-Original-URI': uri, ...extra });
const exchangeFrom = (addr, t, extra = {}) => from(addr, 'POST', '/oauth/v2/token',
  { Authorization: h.basic(t.clientId, t.clientSecret), 'Content-Type': 'application/x-www-form-urlencoded', ...extra },
  'grant_type=client_credentials');

/* The parameters of a RateLimit or RateLimit-Policy value: {name, q, w, r, t}. */
function sfItem(v) {
  assert.ok(v, 'header present');
  const [name, ...params] = v.split(';');
  const out = { name: JSON.parse(name) };
  for (const p of params) { const [k, n] = p.split('='); out[k] = Number(n); }
  return out;
}

async function usageOf(clientId, query = '') {
  const r = await h.api(srv.base, 'GET', `${V1}/apiToken/${clientId}/usage${query}`, { token: boot.access });
  assert.equal(r.status, 200, r.text);
  return r.json;
}
/* Waits until the token's totals (flushed every FLUSH_MS) have `want`'s values. */
async function totalsReach(clientId, want) {
  let last;
  const ok = await h.waitFor(async () => {
    last = (await usageOf(clientId)).totals;
    return Object.entries(want).every(([k, v]) => last[k] === v);
  }, 5000);
  assert.ok(ok, `usage totals of ${clientId} reach ${JSON.stringify(want)}: ${JSON.stringify(last)}`);
  return last;
}

test('rateLimit and allowedCidrs: set on create and by PATCH, shown canonical, checked', async () => {
  const t = await makeToken({ description: 'limited', rateLimit: { requests: 100, periodSeconds: 60 },
    allowedCidrs: ['203.0.113.7/24', '2001:DB8::1/32', '203.0.113.0/24', '198.51.100.9'] });
  assert.deepEqual(t.rateLimit, { requests: 100, periodSeconds: 60 });
  assert.deepEqual(t.allowedCidrs, ['203.0.113.0/24', '2001:db8::/32', '198.51.100.9/32'], 'host bits cleared, each once');
  const got = await h.api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}`, { token: boot.access });
  assert.deepEqual(got.json.allowedCidrs, t.allowedCidrs);

  let r = await patch(t.clientId, { rateLimit: { requests: 5, periodSeconds: 1 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.rateLimit, { requests: 5, periodSeconds: 1 });
  assert.deepEqual(r.json.allowedCidrs, t.allowedCidrs, 'left out: kept');
  assert.equal(r.json.description, 'limited');
  r = await patch(t.clientId, { rateLimit: null, allowedCidrs: [], description: 'free' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.rateLimit, null);
  assert.deepEqual(r.json.allowedCidrs, []);
  assert.equal(r.json.description, 'free');

  for (const [body, field] of [
    [{ allowedCidrs: ['10.0.0.0/33'] }, 'allowedCidrs'], [{ allowedCidrs: ['example.com'] }, 'allowedCidrs'],
    [{ allowedCidrs: Array.from({ length: 17 }, (_, i) => `10.0.${i}.0/24`) }, 'allowedCidrs'],
    [{ allowedCidrs: '10.0.0.0/8' }, 'allowedCidrs'], [{ allowedCidrs: [5] }, 'allowedCidrs'],
    [{ rateLimit: { requests: 0, periodSeconds: 60 } }, 'rateLimit.requests'],
    [{ rateLimit: { requests: 10, periodSeconds: 31622401 } }, 'rateLimit.periodSeconds'],
    [{ rateLimit: { requests: 10 } }, 'rateLimit'], [{ rateLimit: 100 }, 'rateLimit'],
    [{ rateLimit: { requests: 1, periodSeconds: 1, burst: 5 } }, 'rateLimit'],
    [{ clientId: 'kgc_x' }, 'clientId'],
  ]) {
    r = await patch(t.clientId, body);
    h.assertApiError(r, 400, 'INVALID_ARGUMENT', JSON.stringify(body));
    const fields = r.json.details[0].fieldViolations.map((v) => v.field);
    assert.ok(fields.some((f) => f === field || f.startsWith(field)), `${JSON.stringify(body)} names ${field}: ${r.text}`);
  }
  r = await h.api(srv.base, 'PATCH', `${V1}/apiToken/kgc_0000000000000000`, { token: boot.access, body: { description: 'x' } });
  h.assertApiError(r, 404, 'NOT_FOUND');
  await h.api(srv.base, 'POST', `${V1}/apiToken/${t.clientId}:revoke`, { token: boot.access });
  r = await patch(t.clientId, { description: 'after revoke' });
  h.assertApiError(r, 400, 'FAILED_PRECONDITION');

  const audit = await h.api(srv.base, 'GET', `${V1}/auditLog?pageSize=20`, { token: boot.access });
  const updates = audit.json.result.filter((e) => e.action === 'apiToken.update' && e.target === t.clientId);
  assert.ok(updates.some((e) => e.outcome === 'OK' && /rate limit 5\/1s, 3 allowed ranges/.test(e.detail)), JSON.stringify(updates));
  assert.ok(updates.some((e) => e.outcome === 'FAILED_PRECONDITION'), 'the refused change is audited too');
});

test('rate limit at the gate and the API: RateLimit headers, then 429 with Retry-After; null lifts it', async () => {
  const t = await makeToken({ rateLimit: { requests: 4, periodSeconds: 3600 } });
  const access = await h.accessToken(srv.base, t.clientId, t.clientSecret);
  for (let i = 0; i < 3; i++) {
    const r = await gate(access);
    assert.equal(r.status, 204, r.text);
    assert.deepEqual(sfItem(r.headers['ratelimit-policy']), { name: 'token', q: 4, w: 3600 });
    const rl = sfItem(r.headers.ratelimit);
    assert.equal(rl.name, 'token');
    assert.equal(rl.r, 3 - i, 'remaining counts down');
    assert.equal(rl.t, (i + 1) * 900, 'seconds until the bucket is full again');
  }
  // The REST API draws on the same bucket (this token's role holds no ManageSecurity: the 403
  // is still a call the bucket paid for and says so).
  let r = await h.api(srv.base, 'GET', `${V1}/apiToken`, { token: access });
  h.assertApiError(r, 403, 'PERMISSION_DENIED');
  assert.equal(sfItem(r.headers.get('ratelimit')).r, 0);
  r = await gate(access);
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json.status, 'RESOURCE_EXHAUSTED');
  assert.equal(r.headers['retry-after'], '900');
  assert.deepEqual(r.json.details, [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '900s' }]);
  assert.equal(sfItem(r.headers.ratelimit).r, 0);
  r = await h.api(srv.base, 'GET', `${V1}/account`, { token: access });
  assert.equal(r.status, 429, 'the API answers 429 too');
  assert.equal(r.headers.get('retry-after'), '900');
  h.assertApiError(r, 429, 'RESOURCE_EXHAUSTED');

  r = await patch(t.clientId, { rateLimit: null });
  assert.equal(r.status, 200);
  await h.waitFor(async () => (await gate(access)).status === 204, 3000);
  r = await gate(access);
  assert.equal(r.status, 204);
  assert.equal(r.headers.ratelimit, undefined, 'no limit: no RateLimit header');
  assert.equal(r.headers['ratelimit-policy'], undefined);
});

test('--default-rate-limit holds for tokens without their own; a token\'s own limit wins', async () => {
  const s2 = await h.startServer({ args: ['--policy', policy, '--default-rate-limit', '2/1h'] });
  try {
    const b2 = await h.bootstrap(s2, 'default limit');
    const mk = async (body) => {
      const r = await h.api(s2.base, 'POST', `${V1}/apiToken`, { token: b2.access, body: { roleId: 'r-0000000001', ...body } });
      assert.equal(r.status, 201, r.text);
      return [r.json, await h.accessToken(s2.base, r.json.clientId, r.json.clientSecret)];
    };
    const [plain, pa] = await mk({});
    const [own, oa] = await mk({ rateLimit: { requests: 5, periodSeconds: 3600 } });
    assert.equal(plain.rateLimit, null, 'the default is not the token\'s own');
    const g = (a) => fetch(`${s2.base}/gate`, { headers: { Authorization: `Bearer ${a}`, 'X-Original-Method': 'GET', 'X-Original-URI': '/api/orders/1' } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await g(pa)).status);
    assert.deepEqual(statuses, [204, 204, 429]);
    const first = await g(oa);
    assert.equal(first.headers.get('ratelimit-policy'), '"token";q=5;w=3600');
    for (let i = 0; i < 4; i++) assert.equal((await g(oa)).status, 204);
    assert.equal((await g(oa)).status, 429);
  } finally {
    await s2.stop();
  }
});

test('allowedCidrs: the exchange from elsewhere is invalid_client, the gate and API 403, audited with the address', async () => {
  const t = await makeToken({ allowedCidrs: ['127.0.0.1/32', '2001:db8:1::/48'] });
  let r = await exchangeFrom('127.0.0.2', t);
  assert.equal(r.status, 401);
  assert.equal(r.json.error, 'invalid_client');
  r = await exchangeFrom('127.0.0.1', t);
  assert.equal(r.status, 200, r.text);
  const access = r.json.access_token;
  assert.equal((await gate(access, '127.0.0.1')).status, 204);
  r = await gate(access, '127.0.0.2');
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.details[0].reason, 'ADDRESS_NOT_ALLOWED');
  r = await from('127.0.0.2', 'GET', `${V1}/account`, { Authorization: `Bearer ${access}` });
  assert.equal(r.status, 403, r.text);
  // IPv6 through a trusted proxy (127.0.0.3): the client is the address it names.
  r = await gate(access, '127.0.0.3', '/api/orders/1', { 'X-Forwarded-For': '2001:db8:1:ff::9' });
  assert.equal(r.status, 204, `an address in 2001:db8:1::/48: ${r.text}`);
  r = await gate(access, '127.0.0.3', '/api/orders/1', { 'X-Forwarded-For': '2001:db8:2::9' });
  assert.equal(r.status, 403, 'one outside it');
  r = await gate(access, '127.0.0.2', '/api/orders/1', { 'X-Forwarded-For': '127.0.0.1' });
  assert.equal(r.status, 403, 'an untrusted peer cannot claim an allowed address');

  const audit = await h.api(srv.base, 'GET', `${V1}/auditLog?actor=${t.clientId}`, { token: boot.access });
  const refusals = audit.json.result.filter((e) => e.outcome === 'PERMISSION_DENIED');
  // each surface's first refusal in a minute is audited (five refusals here, three entries)
  assert.deepEqual(refusals.map((e) => e.action).sort(), ['api', 'gate', 'oauth.token'], JSON.stringify(audit.json.result));
  for (const e of refusals) {
    assert.equal(e.sourceAddress, '127.0.0.2');
    assert.match(e.detail, /address 127\.0\.0\.2 is not in the token's allowed ranges/);
  }
  await totalsReach(t.clientId, { exchanges: 1, gateAllowed: 2, refusedAddress: 5 });
});

test('usage counts: each kind counted per hour, read by token and across tokens, zeros filled', async () => {
  const t = await makeToken({ description: 'busy', rateLimit: { requests: 3, periodSeconds: 3600 } });
  const quiet = await makeToken({ description: 'quiet' });
  const access = await h.accessToken(srv.base, t.clientId, t.clientSecret);
  await h.accessToken(srv.base, t.clientId, t.clientSecret);
  assert.equal((await h.exchange(srv.base, t.clientId, h.wrongSecret(t.clientSecret))).status, 401); // a guess: no token's count
  assert.equal((await gate(access)).status, 204);
  assert.equal((await gate(access, '127.0.0.1', '/api/other')).status, 403); // no rule: privilege
  assert.equal((await from('127.0.0.1', 'POST', '/gate', { Authorization: `Bearer ${access}`, 'X-Original-Method': 'POST', 'X-Original-URI': '/api/orders/1' })).status, 403);
  assert.equal((await gate(access)).status, 429);
  // expired: the token revoked, its access token presented anyway
  const gone = await makeToken({ description: 'gone' });
  const ga = await h.accessToken(srv.base, gone.clientId, gone.clientSecret);
  await h.api(srv.base, 'POST', `${V1}/apiToken/${gone.clientId}:revoke`, { token: boot.access });
  assert.equal((await gate(ga)).status, 401);
  assert.equal((await h.exchange(srv.base, gone.clientId, gone.clientSecret)).status, 401);

  const totals = await totalsReach(t.clientId, { exchanges: 2, gateAllowed: 1, refusedPrivilege: 2, refusedRateLimit: 1 });
  assert.deepEqual(totals, { requests: 6, refused: 3, exchanges: 2, gateAllowed: 1, apiCalls: 0,
    refusedPrivilege: 2, refusedRateLimit: 1, refusedAddress: 0, refusedExpired: 0 });
  await totalsReach(gone.clientId, { exchanges: 1, refusedExpired: 2 });

  const u = await usageOf(t.clientId);
  assert.equal(u.granularity, 'hour');
  assert.equal(u.clientId, t.clientId);
  assert.ok(u.result.length >= 168 && u.result.length <= 169, `7 days of hours: ${u.result.length}`);
  const nonzero = u.result.filter((b) => b.requests);
  assert.equal(nonzero.length, 1, 'all in this hour');
  assert.equal(Date.parse(nonzero[0].start) % 3600000, 0);
  assert.ok(Date.now() - Date.parse(nonzero[0].start) < 3600000);
  assert.equal(nonzero[0].gateAllowed, 1);
  const day = await usageOf(t.clientId, '?granularity=day');
  assert.equal(day.result.filter((b) => b.requests).reduce((s, b) => s + b.requests, 0), 6);
  assert.ok(day.result.every((b) => Date.parse(b.start) % 86400000 === 0));
  // a range starts at its first hour (or day) whole, and says so: every sum covers the same hours
  const mid = new Date(Date.now() - 3 * 86400000 - 1234567).toISOString();
  const aligned = await usageOf(t.clientId, `?since=${mid}&granularity=day`);
  assert.equal(aligned.since, `${mid.slice(0, 10)}T00:00:00.000Z`);
  assert.equal(aligned.result[0].start, aligned.since);
  const top = await h.api(srv.base, 'GET', `${V1}/usage?since=${mid}&granularity=day&clientIds=${t.clientId}`, { token: boot.access });
  assert.equal(top.json.since, aligned.since);
  assert.equal((await usageOf(t.clientId, `?since=${mid}`)).since, `${mid.slice(0, 13)}:00:00.000Z`);
  const past = await usageOf(t.clientId, `?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z`);
  assert.equal(past.result.length, 24);
  assert.equal(past.totals.requests, 0);

  let r = await h.api(srv.base, 'GET', `${V1}/usage?orderBy=refused&limit=100`, { token: boot.access });
  assert.equal(r.status, 200, r.text);
  const ids = r.json.result.map((e) => e.clientId);
  assert.ok(ids.includes(t.clientId) && ids.includes(gone.clientId));
  assert.ok(!ids.includes(quiet.clientId), 'a token with nothing refused is left out');
  const refusedCounts = r.json.result.map((e) => e.refused);
  assert.deepEqual(refusedCounts, [...refusedCounts].sort((a, b) => b - a), 'most refused first');
  assert.ok(r.json.totals.requests >= 6 + 3);
  r = await h.api(srv.base, 'GET', `${V1}/usage?clientIds=${quiet.clientId},${t.clientId}&granularity=day&since=${new Date(Date.now() - 6 * 86400000).toISOString()}`, { token: boot.access });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.result.map((e) => e.clientId), [quiet.clientId, t.clientId], 'exactly those, in that order');
  assert.equal(r.json.result[0].requests, 0);
  assert.equal(r.json.result[1].description, 'busy');
  assert.equal(r.json.result[1].series.length, 7);
  assert.equal(r.json.result[1].series.at(-1).requests, 6);
  assert.equal(r.json.result[1].series.at(-1).refused, 3);

  for (const [q, field] of [['?granularity=minute', 'granularity'], ['?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z', 'since'],
    ['?since=2026-01-01T00:00:00Z&until=2026-03-01T00:00:00Z', 'since'], ['?until=yesterday', 'until']]) {
    r = await h.api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}/usage${q}`, { token: boot.access });
    h.assertApiError(r, 400, 'INVALID_ARGUMENT', q);
    assert.equal(r.json.details[0].fieldViolations[0].field, field, q);
  }
  for (const [q, field] of [['?orderBy=name', 'orderBy'], ['?limit=0', 'limit'], ['?limit=101', 'limit'], ['?clientIds=nope', 'clientIds'],
    [`?clientIds=${'kgc_0000000000000000,'.repeat(101)}`, 'clientIds']]) {
    r = await h.api(srv.base, 'GET', `${V1}/usage${q}`, { token: boot.access });
    h.assertApiError(r, 400, 'INVALID_ARGUMENT', q);
    assert.equal(r.json.details[0].fieldViolations[0].field, field, q);
  }
  r = await h.api(srv.base, 'GET', `${V1}/apiToken/kgc_0000000000000000/usage`, { token: boot.access });
  h.assertApiError(r, 404, 'NOT_FOUND');
  const qa = await h.accessToken(srv.base, quiet.clientId, quiet.clientSecret);
  r = await h.api(srv.base, 'GET', `${V1}/usage`, { token: qa });
  h.assertApiError(r, 403, 'PERMISSION_DENIED', 'ManageSecurity is needed');
});

test('a crash loses at most the last flush interval of counts', async () => {
  const s2 = await h.startServer({ args: ['--usage-flush-ms', '200'], keepDir: true });
  const dir = s2.dir;
  try {
    const b2 = await h.bootstrap(s2, 'crash');
    for (let i = 0; i < 25; i++) assert.equal((await h.api(s2.base, 'GET', `${V1}/account`, { token: b2.access })).status, 200);
    await h.sleep(1000); // five flush intervals
    s2.proc.kill('SIGKILL');
    await h.waitFor(async () => !s2.alive(), 5000);
    const rows = require('node:child_process').execFileSync('sqlite3', [path.join(dir, 'keygate.db'),
      `SELECT sum(exchanges), sum(api_calls) FROM token_usage WHERE client_id = '${b2.clientId}'`], { encoding: 'utf8' }).trim();
    assert.equal(rows, '1|25', 'every count older than a flush interval was written before the kill');
  } finally {
    await s2.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('usage counts survive a restart; --no-usage-counts counts nothing and limits still hold', async () => {
  const s2 = await h.startServer({ args: ['--usage-flush-ms', '100'], keepDir: true });
  const dir = s2.dir;
  try {
    const b2 = await h.bootstrap(s2, 'restart');
    const read = async (s, id) => { // each server has its own issuer (its port): a new access token
      const a = await h.accessToken(s.base, b2.clientId, b2.clientSecret);
      const r = await h.api(s.base, 'GET', `${V1}/apiToken/${id}/usage`, { token: a });
      assert.equal(r.status, 200, r.text);
      return r.json.totals;
    };
    await h.accessToken(s2.base, b2.clientId, b2.clientSecret);
    for (let i = 0; i < 3; i++) await h.api(s2.base, 'GET', `${V1}/account`, { token: b2.access });
    await s2.stop(); // a clean stop writes what is pending, however short the wait
    const s3 = await h.startServer({ dir, args: ['--no-usage-counts'] });
    try {
      const kept = await read(s3, b2.clientId);
      assert.equal(kept.exchanges, 2, JSON.stringify(kept));
      assert.equal(kept.apiCalls, 3, 'the three calls just before the stop');
      const a3 = await h.accessToken(s3.base, b2.clientId, b2.clientSecret);
      for (let i = 0; i < 3; i++) assert.equal((await h.api(s3.base, 'GET', `${V1}/account`, { token: a3 })).status, 200);
      const r = await h.api(s3.base, 'PATCH', `${V1}/apiToken/${b2.clientId}`, { token: a3, body: { rateLimit: { requests: 1, periodSeconds: 3600 } } });
      assert.equal(r.status, 200);
      assert.equal((await h.api(s3.base, 'GET', `${V1}/account`, { token: a3 })).status, 200);
      assert.equal((await h.api(s3.base, 'GET', `${V1}/account`, { token: a3 })).status, 429, 'limits hold without counts');
    } finally {
      await s3.stop();
    }
    const s4 = await h.startServer({ dir });
    try {
        // the limit set above would make this server's reads 429: read the stored counts
      const rows = require('node:child_process').execFileSync('sqlite3', [path.join(dir, 'keygate.db'),
        `SELECT sum(api_calls) FROM token_usage WHERE client_id = '${b2.clientId}'`], { encoding: 'utf8' }).trim();
      assert.equal(rows, '3', 'nothing was counted with --no-usage-counts');
    } finally {
      await s4.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
