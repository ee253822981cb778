'use strict';
// The audit log: every create, revoke, role/privilege/user change and sign-in is recorded with
// actor, time, source address and outcome (refusals included); GET /public/api/v1/auditLog
// (privilege ViewAuditLog) lists it newest first, paginated, filterable by actor and time.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const { V1, api } = h;
let srv, boot, password, t0;

async function audit(query = '', token = boot.access) {
  const r = await api(srv.base, 'GET', `${V1}/auditLog${query}`, { token });
  return r;
}

async function login(email, pw) {
  const r = await fetch(`${srv.base}/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: pw }), signal: AbortSignal.timeout(10000),
  });
  await r.text();
  return r.status;
}

function assertEntryShape(e) {
  assert.deepEqual(Object.keys(e).sort(), ['action', 'actor', 'detail', 'outcome', 'sourceAddress', 'target', 'time']);
  assert.match(e.time, h.TIME_RE);
  for (const k of ['action', 'actor', 'detail', 'outcome', 'sourceAddress', 'target']) assert.equal(typeof e[k], 'string', k);
}

before(async () => {
  srv = await h.startServer();
  password = h.adminPassword(srv);
  t0 = new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  boot = await h.bootstrap(srv, 'audit');
});

after(async () => { if (srv) await srv.stop(); });

test('changes through the API and the CLI, and sign-ins, are recorded with actor, address and outcome', async () => {
  const T = { token: boot.access };
  const tok = await api(srv.base, 'POST', `${V1}/apiToken`, { ...T, body: { description: 'audited', roleId: 'r-0000000002' } });
  assert.equal(tok.status, 201, tok.text);
  assert.equal((await api(srv.base, 'POST', `${V1}/apiToken/${tok.json.clientId}:revoke`, T)).status, 200);
  const role = await api(srv.base, 'POST', `${V1}/role`, { ...T, body: { grantToCreatingRole: true, roleName: 'auditors', roleDescription: 'reads the log' } });
  assert.equal(role.status, 200, role.text);
  assert.equal((await api(srv.base, 'POST', `${V1}/role/${role.json.roleId}/privilege:grant`, { ...T, body: { grantKind: 'Allow', privilege: 'ViewAuditLog' } })).status, 204);
  const user = await api(srv.base, 'POST', `${V1}/user`, { ...T, body: { email: 'carol@example.com', password: 'carol-password-1', directlyGrantedRoles: [{ roleId: role.json.roleId }] } });
  assert.equal(user.status, 201, user.text);
  assert.equal((await api(srv.base, 'DELETE', `${V1}/user/${user.json.userId}`, T)).status, 204);
  h.assertApiError(await api(srv.base, 'POST', `${V1}/apiToken/kgc_0000000000000000:revoke`, T), 404, 'NOT_FOUND');
  assert.equal(await login('admin@localhost', 'not-the-password'), 401);
  assert.equal(await login('admin@localhost', password), 200);
  const cli = h.cli(srv.db, ['token', 'revoke', boot.clientId.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))]);
  assert.notEqual(cli.status, 0, 'revoking an unknown token at the CLI fails');

  const r = await audit('?pageSize=50');
  assert.equal(r.status, 200, r.text);
  const es = r.json.result;
  es.forEach(assertEntryShape);
  const times = es.map((e) => e.time);
  assert.deepEqual([...times].sort().reverse(), times, 'newest first');
  const find = (action, pred = () => true) => es.find((e) => e.action === action && pred(e));

  const created = find('apiToken.create', (e) => e.target === tok.json.clientId);
  assert.ok(created, 'the token create is there');
  assert.equal(created.actor, boot.clientId);
  assert.equal(created.sourceAddress, '127.0.0.1');
  assert.equal(created.outcome, 'OK');
  assert.match(created.detail, /r-0000000002/);
  assert.equal(find('apiToken.revoke', (e) => e.target === tok.json.clientId).outcome, 'OK');
  assert.equal(find('apiToken.revoke', (e) => e.target === 'kgc_0000000000000000').outcome, 'NOT_FOUND');
  assert.equal(find('role.create', (e) => e.target === role.json.roleId).outcome, 'OK');
  assert.match(find('privilege.grant', (e) => e.target === role.json.roleId).detail, /Allow ViewAuditLog/);
  assert.equal(find('user.create', (e) => e.target === user.json.userId).outcome, 'OK');
  assert.equal(find('user.delete', (e) => e.target === user.json.userId).outcome, 'OK');
  const failed = find('signIn', (e) => e.outcome === 'UNAUTHENTICATED');
  assert.ok(failed, 'the failed sign-in');
  assert.equal(failed.target, 'admin@localhost');
  assert.equal(failed.sourceAddress, '127.0.0.1');
  const signedIn = find('signIn', (e) => e.outcome === 'OK');
  assert.match(signedIn.actor, h.USER_ID_RE);
  const atCli = find('apiToken.revoke', (e) => e.actor === 'cli');
  assert.ok(atCli, 'the CLI revoke');
  assert.equal(atCli.sourceAddress, 'local');
  assert.equal(atCli.outcome, 'NOT_FOUND');
  // The CLI's token create that bootstrapped the test is there too, and, the oldest of all,
  // the first user that the first start made.
  const fromCli = find('apiToken.create', (e) => e.target === boot.clientId);
  assert.equal(fromCli.actor, 'cli');
  assert.equal(fromCli.sourceAddress, 'local');
  const first = es[es.length - 1];
  assert.equal(first.action, 'user.create');
  assert.equal(first.detail, 'admin@localhost');

  // Nothing secret is in the log.
  const text = JSON.stringify(es);
  assert.ok(!text.includes(tok.json.clientSecret) && !text.includes(boot.clientSecret) && !text.includes(password) &&
    !text.includes('carol-password-1') && !/kgs_|eyJ/.test(text), 'no secret, password or access token in the audit log');
});

test('refused changes are recorded: no escalation, and a missing privilege at the route', async () => {
  const T = { token: boot.access };
  const weak = await api(srv.base, 'POST', `${V1}/role`, { ...T, body: { grantToCreatingRole: true, roleName: 'weak' } });
  assert.equal(weak.status, 200);
  const wt = await api(srv.base, 'POST', `${V1}/apiToken`, { ...T, body: { description: 'weak', roleId: weak.json.roleId } });
  const weakAccess = await h.accessToken(srv.base, wt.json.clientId, wt.json.clientSecret);
  h.assertApiError(await api(srv.base, 'POST', `${V1}/apiToken`, { token: weakAccess, body: { description: 'x', roleId: 'r-0000000001' } }), 403, 'PERMISSION_DENIED');
  h.assertApiError(await audit('', weakAccess), 403, 'PERMISSION_DENIED', 'reading the log needs ViewAuditLog');

  const es = (await audit(`?actor=${wt.json.clientId}`)).json.result;
  assert.ok(es.length >= 1);
  for (const e of es) assert.equal(e.actor, wt.json.clientId, 'filtered by actor');
  const denied = es.find((e) => e.action === 'request');
  assert.ok(denied, `the refused create is recorded: ${JSON.stringify(es)}`);
  assert.equal(denied.outcome, 'PERMISSION_DENIED');
  assert.match(denied.detail, /POST \/public\/api\/v1\/apiToken needs ManageSecurity/);
});

test('pagination, time filters and bad parameters', async () => {
  const all = (await audit('?pageSize=100')).json.result;
  assert.ok(all.length >= 10);
  const seen = [];
  let pageToken = '';
  for (let i = 0; i < 100; i++) {
    const r = await audit(`?pageSize=3${pageToken ? `&pageToken=${pageToken}` : ''}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.result.length <= 3);
    seen.push(...r.json.result);
    pageToken = r.json.nextPageToken;
    if (!pageToken) break;
  }
  assert.deepEqual(seen, all.slice(0, seen.length), 'pages in order, none skipped or repeated');
  assert.ok(seen.length >= all.length);

  const future = (await audit('?since=2999-01-01T00:00:00Z')).json.result;
  assert.equal(future.length, 0, 'nothing after 2999');
  const past = (await audit(`?until=${t0}`)).json.result;
  assert.equal(past.length, 0, 'nothing before the server started');
  const mid = (await audit(`?since=${t0}&until=2999-01-01T00:00:00Z&pageSize=100`)).json.result;
  assert.equal(mid.length, all.length);

  h.assertApiError(await audit('?since=yesterday'), 400, 'INVALID_ARGUMENT');
  h.assertApiError(await audit('?until=2026-13-01T00:00:00Z'), 400, 'INVALID_ARGUMENT');
  h.assertApiError(await audit(`?actor=${'x'.repeat(65)}`), 400, 'INVALID_ARGUMENT');
  h.assertApiError(await audit('?pageSize=101'), 400, 'INVALID_ARGUMENT');
  const none = await audit(`?actor=${encodeURIComponent("' OR 1=1 --")}`);
  assert.equal(none.status, 200);
  assert.equal(none.json.result.length, 0, 'a SQL-looking actor matches nothing');
});
