'use strict';
// REST API beyond the main story: token pagination over > 250 tokens, token create validation,
// roles (CRUD, names, lookups, grants, cycles, built-ins), privileges, users, privilege checks
// per route, and the CLI's role/user commands.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const { V1, api } = h;

let srv;
let boot; // accountadmin token (CLI-created) with .access
const S = {};

const call = (method, p, body, token = boot.access) => api(srv.base, method, `${V1}${p}`, { token, body });

/* A whole list as one answer, read a page of 100 (Galaxy's largest) at a time. */
async function listed(p) {
  const pages = await h.listAll(srv.base, boot.access, `${V1}${p}`, 100, 100);
  return { status: 200, json: { nextPageToken: '', result: pages.flatMap((x) => x.result) } };
}

async function createRole(roleName, extra = {}) {
  const r = await call('POST', '/role', { grantToCreatingRole: true, roleName, roleDescription: `${roleName} role`, ...extra });
  assert.equal(r.status, 200, `POST /role ${roleName}: ${r.status} ${r.text}`);
  return r.json;
}

async function grant(roleId, grantKind, privilege) {
  const r = await call('POST', `/role/${roleId}/privilege:grant`, { grantKind, privilege });
  assert.equal(r.status, 204, `grant ${grantKind} ${privilege} on ${roleId}: ${r.status} ${r.text}`);
}

/* A token for a role, made through the CLI (the operator may hand out any role). */
async function cliToken(roleName, description = roleName) {
  const t = h.cliJson(srv.db, ['token', 'create', '--role', roleName, '--description', description, '--json']);
  const r = await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret);
  assert.equal(r.status, 200, `exchange for CLI-created ${t.clientId}: ${r.status} ${r.text}`);
  return { ...t, access: r.json.access_token };
}

function assertRoleShape(r) {
  const ctx = JSON.stringify(r);
  assert.match(r.roleId, h.ROLE_ID_RE, `roleId: ${ctx}`);
  assert.match(r.roleName, /^[a-z0-9_]{1,64}$/, `roleName: ${ctx}`);
  assert.equal(typeof r.roleDescription, 'string', `roleDescription: ${ctx}`);
  assert.match(r.createdOn, h.TIME_RE, `createdOn: ${ctx}`);
  assert.match(r.modifiedOn, h.TIME_RE, `modifiedOn: ${ctx}`);
  assert.match(r.owningRoleId, h.ROLE_ID_RE, `owningRoleId: ${ctx}`);
  assert.equal(typeof r.syncToken, 'string', `syncToken: ${ctx}`);
  assertGrants(r.directlyGrantedRoles, r.roleId, ctx);
  assertGrants(r.allRoles, null, ctx);
  for (const g of r.directlyGrantedRoles) assert.ok(r.allRoles.some((a) => a.roleId === g.roleId), `allRoles holds the direct ones: ${ctx}`);
}

/* RoleGrants: {roleId, roleName, principal: {type, id}, adminOption: false}; principal, when
 * given, the holder of them all. */
function assertGrants(list, principal, ctx) {
  assert.ok(Array.isArray(list), `grants: ${ctx}`);
  for (const g of list) {
    assert.deepEqual(Object.keys(g).sort(), ['adminOption', 'principal', 'roleId', 'roleName'], `grant entry: ${ctx}`);
    assert.match(g.roleId, h.ROLE_ID_RE, `grant roleId: ${ctx}`);
    assert.equal(g.adminOption, false, `adminOption: ${ctx}`);
    assert.deepEqual(Object.keys(g.principal).sort(), ['id', 'type'], `principal: ${ctx}`);
    assert.equal(g.principal.type, g.principal.id.startsWith('u-') ? 'User' : 'Role', `principal type: ${ctx}`);
    if (principal) assert.equal(g.principal.id, principal, `principal id: ${ctx}`);
  }
}

function assertUserShape(u, { withPassword = false } = {}) {
  const ctx = JSON.stringify(u);
  assert.match(u.userId, h.USER_ID_RE, `userId: ${ctx}`);
  assert.equal(typeof u.email, 'string', `email: ${ctx}`);
  assert.match(u.createdOn, h.TIME_RE, `createdOn: ${ctx}`);
  assert.match(u.defaultRoleId, h.ROLE_ID_RE, `defaultRoleId: ${ctx}`);
  assert.equal(u.scimManaged, false, `scimManaged: ${ctx}`);
  assert.equal(typeof u.syncToken, 'string', `syncToken: ${ctx}`);
  assertGrants(u.directlyGrantedRoles, u.userId, ctx);
  assertGrants(u.allRoles, null, ctx);
  if (withPassword) {
    assert.equal(typeof u.password, 'string', `a generated password is returned: ${ctx}`);
    assert.ok(u.password.length >= 12, `generated password looks short: ${ctx}`);
  } else {
    assert.equal(u.password, undefined, `no password in this response: ${ctx}`);
  }
  h.assertNoSecretMaterial(u, 'user');
}

before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv);
  const aa = await call('GET', '/role/name=accountadmin');
  const pub = await call('GET', '/role/name=public');
  assert.equal(aa.status, 200, aa.text);
  assert.equal(pub.status, 200, pub.text);
  S.aa = aa.json;
  S.pub = pub.json;
});

after(async () => {
  if (srv) await srv.stop();
});

/* ---- tokens: pagination ------------------------------------------------------------- */

test('pagination: 250 tokens created via the API page as 100/100/51, newest first, none missing or repeated', async () => {
  const created = [];
  const t0 = Date.now();
  for (let i = 0; i < 250; i++) {
    const r = await call('POST', '/apiToken', { description: `page-${i}`, roleId: S.pub.roleId });
    assert.equal(r.status, 201, `create #${i}: ${r.status} ${r.text}`);
    created.push(r.json.clientId);
    assert.ok(Date.now() - t0 < 30000, 'creating 250 tokens took over 30 s');
  }
  const expected = [...created].reverse().concat([boot.clientId]); // newest first; boot was first

  const pages = await h.listAll(srv.base, boot.access, `${V1}/apiToken`, 100, 10);
  assert.deepEqual(pages.map((p) => p.result.length), [100, 100, 51], 'page sizes');
  pages.slice(0, -1).forEach((p, i) => assert.ok(p.nextPageToken.length > 0, `page ${i + 1} has a nextPageToken`));
  assert.equal(pages[2].nextPageToken, '', 'the last page ends the list with ""');
  const ids = pages.flatMap((p) => p.result.map((t) => t.clientId));
  assert.equal(new Set(ids).size, ids.length, 'no token appears twice across pages');
  assert.deepEqual(ids, expected, 'all tokens, newest first');
  const times = pages.flatMap((p) => p.result.map((t) => Date.parse(t.createdOn)));
  for (let i = 1; i < times.length; i++) assert.ok(times[i] <= times[i - 1], `createdOn non-increasing at ${i}`);
  for (const t of pages.flatMap((p) => p.result)) h.assertTokenShape(t);
  S.allTokens = expected;
});

test('pagination: pageSize absent or 0 is the default, 100, which is also the largest (Galaxy\'s)', async () => {
  const d = await call('GET', '/apiToken');
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.result.length, 100, 'default page size');
  assert.notEqual(d.json.nextPageToken, '');
  const zero = await call('GET', '/apiToken?pageSize=0');
  assert.equal(zero.status, 200, zero.text);
  assert.deepEqual(zero.json, d.json, 'pageSize=0 is the default');
  const max = await call('GET', '/apiToken?pageSize=100');
  assert.deepEqual(max.json, d.json, 'pageSize=100 is the largest page');
  h.assertApiError(await call('GET', '/apiToken?pageSize=101'), 400, 'INVALID_ARGUMENT', 'pageSize=101');
  const pages = await h.listAll(srv.base, boot.access, `${V1}/apiToken`, 100, 10);
  assert.deepEqual(pages.flatMap((p) => p.result.map((t) => t.clientId)), S.allTokens);
  const rest = S.allTokens.length % 100 || 100;
  assert.equal(pages[pages.length - 1].result.length, rest);
  assert.equal(pages[pages.length - 1].nextPageToken, '', 'a page that holds the rest ends the list');
});

test('pagination: pageSize=1 walks a stable order; a token created mid-walk does not disturb later pages', async () => {
  const p1 = await call('GET', '/apiToken?pageSize=7');
  assert.equal(p1.status, 200, p1.text);
  const fresh = await call('POST', '/apiToken', { description: 'mid-walk', roleId: S.pub.roleId });
  assert.equal(fresh.status, 201, fresh.text);
  const p2 = await call('GET', `/apiToken?pageSize=7&pageToken=${encodeURIComponent(p1.json.nextPageToken)}`);
  assert.equal(p2.status, 200, p2.text);
  assert.deepEqual([...p1.json.result, ...p2.json.result].map((t) => t.clientId), S.allTokens.slice(0, 14),
    'pages continue where they left off, ignoring the newer token');
  const one = await call('GET', '/apiToken?pageSize=1');
  assert.deepEqual(one.json.result.map((t) => t.clientId), [fresh.json.clientId], 'the new token is now first');
  // Same token, same page again (stable).
  const again = await call('GET', `/apiToken?pageSize=7&pageToken=${encodeURIComponent(p1.json.nextPageToken)}`);
  assert.deepEqual(again.json.result.map((t) => t.clientId), p2.json.result.map((t) => t.clientId));
  S.allTokens.unshift(fresh.json.clientId);
});

test('pagination: bad pageSize / pageToken → 400 INVALID_ARGUMENT', async () => {
  const fails = [];
  for (const q of ['pageSize=101', 'pageSize=1001', 'pageSize=abc', 'pageSize=-1', 'pageSize=1.5', 'pageSize=', 'pageSize=+5',
    'pageSize=5%00x', 'pageSize=99999999999999999999', 'pageToken=garbage', 'pageToken=%00', 'pageToken=%00garbage',
    `pageToken=${'A'.repeat(500)}`]) {
    for (const p of ['/apiToken', '/role', '/user', `/role/${S.aa.roleId}/privilege`]) {
      const what = `GET ${p}?${q.slice(0, 40)}`;
      try {
        h.assertApiError(await call('GET', `${p}?${q}`), 400, 'INVALID_ARGUMENT', what);
      } catch (e) {
        if (!(e instanceof assert.AssertionError)) throw e;
        fails.push(e.message.split('\n')[0].slice(0, 160));
      }
    }
  }
  assert.equal(fails.length, 0, `${fails.length} bad page parameter(s) accepted:\n  - ${fails.join('\n  - ')}`);
});

test('role and user lists page too', async () => {
  for (let i = 0; i < 5; i++) await createRole(`pager_${i}`);
  const pages = await h.listAll(srv.base, boot.access, `${V1}/role`, 2, 20);
  const names = pages.flatMap((p) => p.result.map((r) => r.roleName));
  assert.equal(new Set(names).size, names.length, 'no role twice');
  for (const n of ['accountadmin', 'public', 'pager_0', 'pager_4']) assert.ok(names.includes(n), `${n} listed`);
  const all = await listed('/role');
  assert.deepEqual(all.json.result.map((r) => r.roleName), names, 'same order paged and unpaged');
  all.json.result.forEach(assertRoleShape);
});

/* ---- tokens: create / get validation ------------------------------------------------ */

test('POST /apiToken validation: description ≤ 256, roleId required, unknown roleId 404, types', async () => {
  const ok = await call('POST', '/apiToken', { description: 'd'.repeat(256), roleId: S.pub.roleId });
  assert.equal(ok.status, 201, `256-char description: ${ok.status} ${ok.text}`);
  assert.equal(ok.json.description, 'd'.repeat(256));
  h.assertApiError(await call('POST', '/apiToken', { description: 'd'.repeat(257), roleId: S.pub.roleId }), 400, 'INVALID_ARGUMENT', '257-char description');
  h.assertApiError(await call('POST', '/apiToken', { description: 'x' }), 400, 'INVALID_ARGUMENT', 'no roleId');
  h.assertApiError(await call('POST', '/apiToken', { description: 'x', roleId: 'r-0000000000' }), 404, 'NOT_FOUND', 'unknown well-formed roleId');
  h.assertApiError(await call('POST', '/apiToken', { description: 'x', roleId: 'accountadmin' }), 400, 'INVALID_ARGUMENT', 'roleId as a name');
  h.assertApiError(await call('POST', '/apiToken', { description: 5, roleId: S.pub.roleId }), 400, 'INVALID_ARGUMENT', 'numeric description');
  h.assertApiError(await call('POST', '/apiToken', { description: 'x', roleId: 7 }), 400, 'INVALID_ARGUMENT', 'numeric roleId');
  h.assertApiError(await call('POST', '/apiToken', { description: 'x', roleId: S.pub.roleId, clientId: 'kgc_AAAAAAAAAAAAAAAA' }), 400, 'INVALID_ARGUMENT', 'unknown field clientId');
  h.assertApiError(await call('POST', '/apiToken', { description: 'x', roleId: S.pub.roleId, clientSecret: 'kgs_x' }), 400, 'INVALID_ARGUMENT', 'unknown field clientSecret');
  const unicode = await call('POST', '/apiToken', { description: 'crème brûlée ✓ 🎉', roleId: S.pub.roleId });
  assert.equal(unicode.status, 201, unicode.text);
  assert.equal(unicode.json.description, 'crème brûlée ✓ 🎉', 'UTF-8 description round-trips');
  S.allTokens.unshift(unicode.json.clientId, ok.json.clientId);
});

test('GET /apiToken/{clientId}: found, unknown → 404, malformed → 404', async () => {
  const id = S.allTokens[S.allTokens.length - 1];
  const r = await call('GET', `/apiToken/${id}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.clientId, id);
  h.assertTokenShape(r.json);
  h.assertApiError(await call('GET', '/apiToken/kgc_0000000000000000'), 404, 'NOT_FOUND', 'unknown clientId');
  h.assertApiError(await call('GET', '/apiToken/not-a-client-id'), 404, 'NOT_FOUND', 'malformed clientId');
  h.assertApiError(await call('POST', '/apiToken/not-a-client-id:revoke'), 404, 'NOT_FOUND', 'revoke a malformed clientId');
});

/* Reads asked again are answered from memory (tcache.h): never older than a change made here,
 * a change made by another process (the CLI) shows within the view's sync, and lastAccessOn
 * keeps moving. */
test('GET /apiToken/{clientId} and the first page asked again: every change shows', async () => {
  const t = await cliToken('accountadmin', 'read twice');
  const page = async () => (await call('GET', '/apiToken?pageSize=100')).json.result.find((x) => x.clientId === t.clientId);
  const one = async () => (await call('GET', `/apiToken/${t.clientId}`)).json;
  for (let i = 0; i < 3; i++) { // the same answers, from the store and then from memory
    assert.equal((await one()).description, 'read twice');
    assert.equal((await page()).description, 'read twice');
  }
  const before = (await one()).lastAccessOn; // its exchange, in cliToken
  assert.ok(before, 'its exchange shows as lastAccessOn');
  // a change here shows at once, in both
  const p = await call('PATCH', `/apiToken/${t.clientId}`, { description: 'read thrice' });
  assert.equal(p.status, 200, p.text);
  assert.equal((await one()).description, 'read thrice');
  assert.equal((await page()).description, 'read thrice');
  // its own use shows as lastAccessOn (kept to the second: a use a second after the last)
  await new Promise((r) => setTimeout(r, 1100));
  const used = await api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}`, { token: t.access });
  assert.equal(used.status, 200, used.text);
  assert.ok((await one()).lastAccessOn > before, 'its use shows in the answer asked again');
  assert.ok((await page()).lastAccessOn > before, 'and in the page asked again');
  // a revoke by another process (the CLI, on the same database) shows within 1 s
  assert.equal(h.cli(srv.db, ['token', 'revoke', t.clientId]).status, 0);
  const seen = await h.waitFor(async () => ((await one()).status === 'Revoked' && (await page()).status === 'Revoked') || null, 1000);
  assert.ok(seen.ok, 'the CLI\'s revoke shows in both answers within 1 s');
});

/* ---- roles --------------------------------------------------------------------------- */

test('built-in roles accountadmin and public exist and are well-formed', async () => {
  assertRoleShape(S.aa);
  assertRoleShape(S.pub);
  assert.equal(S.aa.roleName, 'accountadmin');
  assert.equal(S.pub.roleName, 'public');
  const byId = await call('GET', `/role/${S.aa.roleId}`);
  assert.deepEqual(byId.json, S.aa, 'GET by id and by name agree');
});

test('POST /role: 200 with the documented fields; GET by id and by name', async () => {
  const r = await createRole('analyst', { roleDescription: 'reads things' });
  assertRoleShape(r);
  assert.deepEqual(Object.keys(r).sort(), ['allRoles', 'createdOn', 'directlyGrantedRoles', 'modifiedOn', 'owningRoleId', 'roleDescription', 'roleId', 'roleName', 'syncToken']);
  assert.equal(r.roleName, 'analyst');
  assert.equal(r.roleDescription, 'reads things');
  assert.deepEqual(r.directlyGrantedRoles, []);
  const byId = await call('GET', `/role/${r.roleId}`);
  assert.equal(byId.status, 200, byId.text);
  assert.deepEqual(byId.json, r);
  const byName = await call('GET', '/role/name=analyst');
  assert.equal(byName.status, 200, byName.text);
  assert.deepEqual(byName.json, r);
  const noDesc = await call('POST', '/role', { grantToCreatingRole: true, roleName: 'nodesc' });
  assert.equal(noDesc.status, 200, `roleDescription is optional: ${noDesc.status} ${noDesc.text}`);
  S.analyst = r;
});

test('POST /role: roleName must be 1–64 of [a-z0-9_]; duplicates → 409 ALREADY_EXISTS', async () => {
  const max = await call('POST', '/role', { grantToCreatingRole: true, roleName: 'a'.repeat(64) });
  assert.equal(max.status, 200, `64-char name: ${max.status} ${max.text}`);
  const digits = await call('POST', '/role', { grantToCreatingRole: true, roleName: '0_9_z' });
  assert.equal(digits.status, 200, `digits and underscore: ${digits.status} ${digits.text}`);
  for (const bad of ['', 'a'.repeat(65), 'Upper', 'has space', 'dash-ed', 'dot.ted', 'é', 'name=x', 'a/b', "x' OR 1=1 --"]) {
    h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: bad }), 400, 'INVALID_ARGUMENT', `roleName ${JSON.stringify(bad)}`);
  }
  h.assertApiError(await call('POST', '/role', {}), 400, 'INVALID_ARGUMENT', 'no roleName');
  h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: 42 }), 400, 'INVALID_ARGUMENT', 'numeric roleName');
  h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: 'ok_name', roleDescription: 1 }), 400, 'INVALID_ARGUMENT', 'numeric roleDescription');
  h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: 'ok_name', directlyGrantedRoles: 'r-0000000001' }), 400, 'INVALID_ARGUMENT', 'directlyGrantedRoles not a list');
  h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: 'ok_name', directlyGrantedRoles: [{ roleId: 'bad' }] }), 400, 'INVALID_ARGUMENT', 'malformed granted roleId');
  h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: 'ok_name', extra: 1 }), 400, 'INVALID_ARGUMENT', 'unknown field');
  h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: 'analyst' }), 409, 'ALREADY_EXISTS', 'duplicate roleName');
  h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: 'public' }), 409, 'ALREADY_EXISTS', 'built-in name');
  const list = await listed('/role');
  assert.ok(!list.json.result.some((r) => r.roleName === 'ok_name'), 'no failed create stored a role');
});

test('GET /role/{id}: unknown id / unknown name / malformed → 404', async () => {
  h.assertApiError(await call('GET', '/role/r-0000000000'), 404, 'NOT_FOUND', 'unknown roleId');
  h.assertApiError(await call('GET', '/role/name=nosuchrole'), 404, 'NOT_FOUND', 'unknown roleName');
  h.assertApiError(await call('GET', '/role/name='), 404, 'NOT_FOUND', 'empty roleName');
  h.assertApiError(await call('GET', '/role/r-12'), 404, 'NOT_FOUND', 'malformed roleId');
  h.assertApiError(await call('GET', '/role/analyst'), 404, 'NOT_FOUND', 'bare name without name=');
  h.assertApiError(await call('GET', '/role/r-0000000000/privilege'), 404, 'NOT_FOUND', 'privileges of an unknown role');
});

test('role grants: directlyGrantedRoles on create, resolved names', async () => {
  const base = await createRole('base_role');
  const r = await call('POST', '/role', { grantToCreatingRole: true, roleName: 'composite', directlyGrantedRoles: [{ roleId: base.roleId }] });
  assert.equal(r.status, 200, `accountadmin creates a role granted base_role: ${r.status} ${r.text}`);
  assertRoleShape(r.json);
  assert.deepEqual(h.refs(r.json.directlyGrantedRoles), [{ roleId: base.roleId, roleName: 'base_role' }]);
  const unknown = await call('POST', '/role', { grantToCreatingRole: true, roleName: 'dangling', directlyGrantedRoles: [{ roleId: 'r-0000000000' }] });
  assert.ok([400, 404].includes(unknown.status), `granting an unknown role: expected 404 (or 400), got ${unknown.status} ${unknown.text}`);
  h.assertApiError(unknown, unknown.status, undefined, 'granting an unknown role');
});

test('PATCH /role: description, rename (by id and by name=), modifiedOn; rename onto an existing name → 409', async () => {
  const r = await createRole('patchme');
  await h.sleep(5);
  const p = await call('PATCH', `/role/${r.roleId}`, { roleDescription: 'changed' });
  assert.equal(p.status, 200, p.text);
  assertRoleShape(p.json);
  assert.equal(p.json.roleDescription, 'changed');
  assert.equal(p.json.roleName, 'patchme');
  assert.equal(p.json.createdOn, r.createdOn, 'createdOn unchanged');
  assert.ok(Date.parse(p.json.modifiedOn) >= Date.parse(r.modifiedOn), 'modifiedOn moves forward');
  const rn = await call('PATCH', '/role/name=patchme', { roleName: 'patched' });
  assert.equal(rn.status, 200, rn.text);
  assert.equal(rn.json.roleId, r.roleId);
  assert.equal(rn.json.roleName, 'patched');
  assert.equal((await call('GET', '/role/name=patched')).status, 200, 'found by its new name');
  h.assertApiError(await call('GET', '/role/name=patchme'), 404, 'NOT_FOUND', 'old name is gone');
  h.assertApiError(await call('PATCH', `/role/${r.roleId}`, { roleName: 'analyst' }), 409, 'ALREADY_EXISTS', 'rename onto an existing name');
  h.assertApiError(await call('PATCH', `/role/${r.roleId}`, { roleName: 'Bad Name' }), 400, 'INVALID_ARGUMENT', 'rename to an invalid name');
  h.assertApiError(await call('PATCH', `/role/${r.roleId}`, { bogus: true }), 400, 'INVALID_ARGUMENT', 'unknown field');
  h.assertApiError(await call('PATCH', '/role/r-0000000000', { roleDescription: 'x' }), 404, 'NOT_FOUND', 'PATCH an unknown role');
  const g = await call('GET', `/role/${r.roleId}`);
  assert.equal(g.json.roleName, 'patched', 'failed PATCHes changed nothing');
  assert.equal(g.json.roleDescription, 'changed');
});

test('role grant cycles are refused: A→B then B→A, and A→A (400 FAILED_PRECONDITION)', async () => {
  const a = await createRole('cyc_a');
  const b = await createRole('cyc_b');
  const c = await createRole('cyc_c');
  const self = await call('PATCH', `/role/${a.roleId}`, { directlyGrantedRoles: [{ roleId: a.roleId }] });
  h.assertApiError(self, 400, 'FAILED_PRECONDITION', 'A granted A');
  const ab = await call('PATCH', `/role/${a.roleId}`, { directlyGrantedRoles: [{ roleId: b.roleId }] });
  assert.equal(ab.status, 200, `A granted B: ${ab.status} ${ab.text}`);
  const ba = await call('PATCH', `/role/${b.roleId}`, { directlyGrantedRoles: [{ roleId: a.roleId }] });
  h.assertApiError(ba, 400, 'FAILED_PRECONDITION', 'B granted A after A granted B');
  const bc = await call('PATCH', `/role/${b.roleId}`, { directlyGrantedRoles: [{ roleId: c.roleId }] });
  assert.equal(bc.status, 200, `B granted C: ${bc.status} ${bc.text}`);
  const ca = await call('PATCH', `/role/${c.roleId}`, { directlyGrantedRoles: [{ roleId: a.roleId }] });
  h.assertApiError(ca, 400, 'FAILED_PRECONDITION', 'C granted A closes A→B→C→A');
  const gb = await call('GET', `/role/${b.roleId}`);
  assert.deepEqual(h.refs(gb.json.directlyGrantedRoles), [{ roleId: c.roleId, roleName: 'cyc_c' }], 'refused grants changed nothing');
  const dup = await call('PATCH', `/role/${c.roleId}`, { directlyGrantedRoles: [{ roleId: S.analyst.roleId }, { roleId: S.analyst.roleId }] });
  assert.ok(dup.status === 400 || dup.status === 200, `a role listed twice: 400 or de-duplicated, got ${dup.status} ${dup.text}`);
});

test('role grants are transitive: a privilege two grants away applies', async () => {
  const top = await createRole('chain_top');
  const mid = await createRole('chain_mid');
  const leaf = await createRole('chain_leaf');
  await grant(leaf.roleId, 'Allow', 'ManageSecurity');
  const p1 = await call('PATCH', `/role/${mid.roleId}`, { directlyGrantedRoles: [{ roleId: leaf.roleId }] });
  const p2 = await call('PATCH', `/role/${top.roleId}`, { directlyGrantedRoles: [{ roleId: mid.roleId }] });
  if (p1.status !== 200 || p2.status !== 200) {
    // Check transitivity anyway via the CLI grants, then report the API failure.
    assert.equal(h.cli(srv.db, ['role', 'grant-role', 'chain_mid', 'chain_leaf']).status, 0);
    assert.equal(h.cli(srv.db, ['role', 'grant-role', 'chain_top', 'chain_mid']).status, 0);
  }
  const t = await cliToken('chain_top');
  const w = await h.waitFor(async () => (await call('GET', '/role', undefined, t.access)).status === 200, 1500, 50);
  assert.ok(w.ok, 'chain_top → chain_mid → chain_leaf (ManageSecurity): GET /role allowed');
  assert.equal(p1.status, 200, `PATCH chain_mid grants chain_leaf: ${p1.status} ${p1.text}`);
  assert.equal(p2.status, 200, `PATCH chain_top grants chain_mid: ${p2.status} ${p2.text}`);
});

test('accountadmin and public cannot be patched or deleted (400 FAILED_PRECONDITION)', async () => {
  for (const r of [S.aa, S.pub]) {
    h.assertApiError(await call('PATCH', `/role/${r.roleId}`, { roleDescription: 'x' }), 400, 'FAILED_PRECONDITION', `PATCH ${r.roleName}`);
    h.assertApiError(await call('PATCH', `/role/name=${r.roleName}`, { roleName: 'renamed' }), 400, 'FAILED_PRECONDITION', `rename ${r.roleName}`);
    h.assertApiError(await call('DELETE', `/role/${r.roleId}`), 400, 'FAILED_PRECONDITION', `DELETE ${r.roleName}`);
    h.assertApiError(await call('DELETE', `/role/name=${r.roleName}`), 400, 'FAILED_PRECONDITION', `DELETE name=${r.roleName}`);
    const g = await call('GET', `/role/${r.roleId}`);
    assert.deepEqual(g.json, r, `${r.roleName} unchanged`);
  }
});

test('DELETE /role: 204, then 404; by name= too', async () => {
  const r = await createRole('doomed');
  const d = await call('DELETE', `/role/${r.roleId}`);
  assert.equal(d.status, 204, d.text);
  assert.equal(d.text, '');
  h.assertApiError(await call('GET', `/role/${r.roleId}`), 404, 'NOT_FOUND', 'deleted role');
  h.assertApiError(await call('DELETE', `/role/${r.roleId}`), 404, 'NOT_FOUND', 'delete twice');
  await createRole('doomed2');
  assert.equal((await call('DELETE', '/role/name=doomed2')).status, 204);
  h.assertApiError(await call('GET', '/role/name=doomed2'), 404, 'NOT_FOUND', 'deleted by name');
  const again = await call('POST', '/role', { grantToCreatingRole: true, roleName: 'doomed' });
  assert.equal(again.status, 200, 'the name is free again after a delete');
});

/* ---- privileges ---------------------------------------------------------------------- */

test('privileges: grant Allow/Deny of account and custom privileges, list, revoke', async () => {
  const r = await createRole('privs');
  const empty = await call('GET', `/role/${r.roleId}/privilege`);
  assert.equal(empty.status, 200, empty.text);
  assert.deepEqual(empty.json, { nextPageToken: '', result: [] });
  const grants = [
    ['Allow', 'ManageSecurity'], ['Allow', 'CreateRole'], ['Allow', 'CreateUser'], ['Deny', 'ViewAuditLog'],
    ['Allow', 'Introspect'], ['Allow', 'orders.read'], ['Deny', 'a'], ['Allow', 'x:y-z_1.2'], ['Allow', `c${'a'.repeat(63)}`],
  ];
  for (const [k, p] of grants) await grant(r.roleId, k, p);
  const byName = await call('GET', '/role/name=privs/privilege?pageSize=100');
  assert.equal(byName.status, 200, byName.text);
  const key = (x) => `${x.grantKind} ${x.privilege}`;
  assert.deepEqual(byName.json.result.map(key).sort(), grants.map(([k, p]) => `${k} ${p}`).sort());
  // Galaxy's Privilege items (issue 17): the account entity and the grant option besides.
  const acct = (await call('GET', '/account')).json.accountId;
  for (const x of byName.json.result) {
    assert.deepEqual(Object.keys(x), ['grantKind', 'entityKind', 'entityId', 'grantOption', 'privilege']);
    assert.deepEqual([x.entityKind, x.entityId, x.grantOption], ['Account', acct, false]);
  }
  // Paging the privileges list.
  const pages = await h.listAll(srv.base, boot.access, `${V1}/role/${r.roleId}/privilege`, 4, 10);
  assert.deepEqual(pages.map((p) => p.result.length), [4, 4, 1]);
  // Granting twice does not duplicate.
  const twice = await call('POST', `/role/${r.roleId}/privilege:grant`, { grantKind: 'Allow', privilege: 'orders.read' });
  assert.ok([204, 409].includes(twice.status), `grant twice: ${twice.status} ${twice.text}`);
  const l2 = await call('GET', `/role/${r.roleId}/privilege?pageSize=100`);
  assert.equal(l2.json.result.length, grants.length, 'no duplicate grant');
  // Revoke.
  const rv = await call('POST', `/role/${r.roleId}/privilege:revoke`, { grantKind: 'Allow', privilege: 'orders.read' });
  assert.equal(rv.status, 204, rv.text);
  const l3 = await call('GET', `/role/${r.roleId}/privilege?pageSize=100`);
  assert.ok(!l3.json.result.some((x) => x.privilege === 'orders.read'), 'revoked privilege is gone');
  assert.equal(l3.json.result.length, grants.length - 1);
  const rvDeny = await call('POST', `/role/name=privs/privilege:revoke`, { grantKind: 'Deny', privilege: 'ViewAuditLog' });
  assert.equal(rvDeny.status, 204, rvDeny.text);
});

test('privileges: invalid grantKind / privilege names → 400; unknown role → 404', async () => {
  const r = await createRole('privs_bad');
  const bad = [
    [{ grantKind: 'allow', privilege: 'ManageSecurity' }, 'lower-case grantKind'],
    [{ grantKind: 'Maybe', privilege: 'ManageSecurity' }, 'unknown grantKind'],
    [{ privilege: 'ManageSecurity' }, 'no grantKind'],
    [{ grantKind: 'Allow' }, 'no privilege'],
    [{ grantKind: 'Allow', privilege: '' }, 'empty privilege'],
    [{ grantKind: 'Allow', privilege: 'ManageSecurityX' }, 'unknown CamelCase privilege'],
    [{ grantKind: 'Allow', privilege: '1abc' }, 'custom starting with a digit'],
    [{ grantKind: 'Allow', privilege: `c${'a'.repeat(64)}` }, '65-char custom'],
    [{ grantKind: 'Allow', privilege: 'has space' }, 'space'],
    [{ grantKind: 'Allow', privilege: 'a/b' }, 'slash'],
    [{ grantKind: 'Allow', privilege: 'Éa' }, 'non-ASCII'],
    [{ grantKind: 'Allow', privilege: 5 }, 'numeric privilege'],
    [{ grantKind: true, privilege: 'CreateRole' }, 'boolean grantKind'],
    [{ grantKind: 'Allow', privilege: 'CreateRole', extra: 1 }, 'unknown field'],
  ];
  for (const [body, what] of bad) {
    h.assertApiError(await call('POST', `/role/${r.roleId}/privilege:grant`, body), 400, 'INVALID_ARGUMENT', `grant: ${what}`);
    // A revoke needs no grantKind (Galaxy's RevokePrivilege has none): it takes either kind.
    if (what === 'no grantKind') assert.equal((await call('POST', `/role/${r.roleId}/privilege:revoke`, body)).status, 204);
    else h.assertApiError(await call('POST', `/role/${r.roleId}/privilege:revoke`, body), 400, 'INVALID_ARGUMENT', `revoke: ${what}`);
  }
  h.assertApiError(await call('POST', '/role/r-0000000000/privilege:grant', { grantKind: 'Allow', privilege: 'CreateRole' }), 404, 'NOT_FOUND', 'grant on an unknown role');
  h.assertApiError(await call('POST', '/role/name=nosuch/privilege:revoke', { grantKind: 'Allow', privilege: 'CreateRole' }), 404, 'NOT_FOUND', 'revoke on an unknown role');
  const l = await call('GET', `/role/${r.roleId}/privilege`);
  assert.deepEqual(l.json.result, [], 'nothing was granted');
});

test('route privileges: CreateRole alone allows POST /role only; CreateUser alone POST /user only; ManageSecurity implies both', async () => {
  const cr = await createRole('only_create_role');
  await grant(cr.roleId, 'Allow', 'CreateRole');
  const cu = await createRole('only_create_user');
  await grant(cu.roleId, 'Allow', 'CreateUser');
  const ms = await createRole('only_manage');
  await grant(ms.roleId, 'Allow', 'ManageSecurity');
  const tcr = await cliToken('only_create_role');
  const tcu = await cliToken('only_create_user');
  const tms = await cliToken('only_manage');

  const r1 = await call('POST', '/role', { grantToCreatingRole: true, roleName: 'made_by_creator' }, tcr.access);
  assert.equal(r1.status, 200, `CreateRole → POST /role: ${r1.status} ${r1.text}`);
  h.assertApiError(await call('GET', '/role', undefined, tcr.access), 403, 'PERMISSION_DENIED', 'CreateRole → GET /role');
  h.assertApiError(await call('GET', '/apiToken', undefined, tcr.access), 403, 'PERMISSION_DENIED', 'CreateRole → GET /apiToken');
  h.assertApiError(await call('POST', '/user', { email: 'x1@example.com' }, tcr.access), 403, 'PERMISSION_DENIED', 'CreateRole → POST /user');

  const u1 = await call('POST', '/user', { email: 'made-by-creator@example.com' }, tcu.access);
  assert.equal(u1.status, 201, `CreateUser → POST /user: ${u1.status} ${u1.text}`);
  h.assertApiError(await call('GET', '/user', undefined, tcu.access), 403, 'PERMISSION_DENIED', 'CreateUser → GET /user');
  h.assertApiError(await call('POST', '/role', { grantToCreatingRole: true, roleName: 'nope' }, tcu.access), 403, 'PERMISSION_DENIED', 'CreateUser → POST /role');

  const r2 = await call('POST', '/role', { grantToCreatingRole: true, roleName: 'made_by_manager' }, tms.access);
  assert.equal(r2.status, 200, `ManageSecurity implies CreateRole: ${r2.status} ${r2.text}`);
  const u2 = await call('POST', '/user', { email: 'made-by-manager@example.com' }, tms.access);
  assert.equal(u2.status, 201, `ManageSecurity implies CreateUser: ${u2.status} ${u2.text}`);

  // A token without privileges is refused on every protected route, before any validation.
  const none = await createRole('no_privs');
  const tn = await cliToken('no_privs');
  const routes = [
    ['GET', '/apiToken'], ['POST', '/apiToken', {}], ['GET', `/apiToken/${boot.clientId}`], ['POST', `/apiToken/${boot.clientId}:revoke`],
    ['GET', '/role'], ['POST', '/role', {}], ['GET', `/role/${none.roleId}`], ['PATCH', `/role/${none.roleId}`, {}],
    ['DELETE', `/role/${none.roleId}`], ['GET', `/role/${none.roleId}/privilege`],
    ['POST', `/role/${none.roleId}/privilege:grant`, {}], ['POST', `/role/${none.roleId}/privilege:revoke`, {}],
    ['GET', '/user'], ['POST', '/user', {}], ['GET', '/user/u-0000000000'], ['PATCH', '/user/u-0000000000', {}], ['DELETE', '/user/u-0000000000'],
  ];
  for (const [m, p, b] of routes) {
    h.assertApiError(await call(m, p, b, tn.access), 403, 'PERMISSION_DENIED', `${m} ${p} without privileges`);
  }
  const still = await call('GET', `/apiToken/${boot.clientId}`);
  assert.equal(still.json.status, 'Active', 'the refused revoke did nothing');
  assert.equal((await call('GET', `/role/${none.roleId}`)).status, 200, 'the refused delete did nothing');
});

/* ---- users --------------------------------------------------------------------------- */

test('GET /user lists admin@localhost; no password or hash anywhere', async () => {
  const r = await listed('/user');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.nextPageToken, '');
  const admin = r.json.result.find((u) => u.email === 'admin@localhost');
  assert.ok(admin, 'the bootstrap admin user is listed');
  assert.deepEqual(admin.directlyGrantedRoles.map((g) => g.roleName), ['accountadmin']);
  for (const u of r.json.result) assertUserShape(u);
});

test('POST /user: generated password returned once; supplied password never echoed', async () => {
  const g = await call('POST', '/user', { email: 'alice@example.com' });
  assert.equal(g.status, 201, g.text);
  assertUserShape(g.json, { withPassword: true });
  assert.deepEqual(Object.keys(g.json).sort(), ['allRoles', 'createdOn', 'defaultRoleId', 'directlyGrantedRoles', 'email', 'password', 'scimManaged', 'syncToken', 'userId']);
  assert.equal(g.json.email, 'alice@example.com');
  assert.deepEqual(g.json.directlyGrantedRoles, []);
  const get = await call('GET', `/user/${g.json.userId}`);
  assert.equal(get.status, 200, get.text);
  assertUserShape(get.json);
  assert.ok(!get.text.includes(g.json.password), 'GET does not show the password');

  const s = await call('POST', '/user', { email: 'bob@example.com', password: 'correct horse battery', directlyGrantedRoles: [{ roleId: S.aa.roleId }] });
  assert.equal(s.status, 201, s.text);
  assertUserShape(s.json);
  assert.deepEqual(h.refs(s.json.directlyGrantedRoles), [{ roleId: S.aa.roleId, roleName: 'accountadmin' }]);
  assert.ok(!s.text.includes('correct horse'), 'the supplied password is not echoed');
  S.alice = g.json;
  S.bob = s.json;
});

test('POST /user validation: password 8–1024 bytes, email, duplicates, types', async () => {
  const ok8 = await call('POST', '/user', { email: 'p8@example.com', password: '12345678' });
  assert.equal(ok8.status, 201, `8-byte password: ${ok8.text}`);
  const ok1024 = await call('POST', '/user', { email: 'p1024@example.com', password: 'p'.repeat(1024) });
  assert.equal(ok1024.status, 201, `1024-byte password: ${ok1024.text}`);
  const okMb = await call('POST', '/user', { email: 'pmb@example.com', password: 'éééé' });
  assert.equal(okMb.status, 201, `4 two-byte characters = 8 bytes: ${okMb.text}`);
  h.assertApiError(await call('POST', '/user', { email: 'p7@example.com', password: '1234567' }), 400, 'INVALID_ARGUMENT', '7-byte password');
  h.assertApiError(await call('POST', '/user', { email: 'p1025@example.com', password: 'p'.repeat(1025) }), 400, 'INVALID_ARGUMENT', '1025-byte password');
  h.assertApiError(await call('POST', '/user', { email: 'pmb3@example.com', password: 'ééé' }), 400, 'INVALID_ARGUMENT', '3 two-byte characters = 6 bytes');
  h.assertApiError(await call('POST', '/user', { email: 'pnum@example.com', password: 12345678 }), 400, 'INVALID_ARGUMENT', 'numeric password');
  for (const bad of ['', 'not-an-email', 'a@', '@b', 'a b@example.com', `${'x'.repeat(300)}@example.com`, "x' OR 1=1 --"]) {
    h.assertApiError(await call('POST', '/user', { email: bad }), 400, 'INVALID_ARGUMENT', `email ${JSON.stringify(bad.slice(0, 40))}`);
  }
  h.assertApiError(await call('POST', '/user', {}), 400, 'INVALID_ARGUMENT', 'no email');
  h.assertApiError(await call('POST', '/user', { email: 9 }), 400, 'INVALID_ARGUMENT', 'numeric email');
  h.assertApiError(await call('POST', '/user', { email: 'u@example.com', passwordHash: 'x' }), 400, 'INVALID_ARGUMENT', 'unknown field');
  h.assertApiError(await call('POST', '/user', { email: 'alice@example.com' }), 409, 'ALREADY_EXISTS', 'duplicate email');
  h.assertApiError(await call('POST', '/user', { email: 'u2@example.com', directlyGrantedRoles: [{ roleId: 'nope' }] }), 400, 'INVALID_ARGUMENT', 'malformed granted roleId');
  const users = await listed('/user');
  assert.ok(!users.json.result.some((u) => ['p7@example.com', 'p1025@example.com', 'u@example.com'].includes(u.email)), 'failed creates stored nothing');
});

test('GET /user/{id} and /user/email=<email>; unknown → 404', async () => {
  const byId = await call('GET', `/user/${S.bob.userId}`);
  assert.equal(byId.status, 200, byId.text);
  const byEmail = await call('GET', '/user/email=bob@example.com');
  assert.equal(byEmail.status, 200, byEmail.text);
  assert.deepEqual(byEmail.json, byId.json);
  assertUserShape(byId.json);
  h.assertApiError(await call('GET', '/user/u-0000000000'), 404, 'NOT_FOUND', 'unknown userId');
  h.assertApiError(await call('GET', '/user/email=nobody@example.com'), 404, 'NOT_FOUND', 'unknown email');
  h.assertApiError(await call('GET', '/user/alice@example.com'), 404, 'NOT_FOUND', 'email without email=');
  h.assertApiError(await call('GET', '/user/u-1'), 404, 'NOT_FOUND', 'malformed userId');
});

test('PATCH /user: password (not echoed), email, roles; duplicate email → 409', async () => {
  const p = await call('PATCH', `/user/${S.alice.userId}`, { password: 'a new password' });
  assert.equal(p.status, 200, p.text);
  assertUserShape(p.json);
  assert.ok(!p.text.includes('a new password'));
  const e = await call('PATCH', '/user/email=alice@example.com', { email: 'alice2@example.com' });
  assert.equal(e.status, 200, e.text);
  assert.equal(e.json.email, 'alice2@example.com');
  assert.equal(e.json.userId, S.alice.userId);
  h.assertApiError(await call('GET', '/user/email=alice@example.com'), 404, 'NOT_FOUND', 'old email gone');
  const r = await call('PATCH', `/user/${S.alice.userId}`, { directlyGrantedRoles: [{ roleId: S.pub.roleId }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(h.refs(r.json.directlyGrantedRoles), [{ roleId: S.pub.roleId, roleName: 'public' }]);
  h.assertApiError(await call('PATCH', `/user/${S.alice.userId}`, { email: 'bob@example.com' }), 409, 'ALREADY_EXISTS', 'email taken');
  h.assertApiError(await call('PATCH', `/user/${S.alice.userId}`, { password: 'short' }), 400, 'INVALID_ARGUMENT', 'short password');
  const ro = await call('PATCH', `/user/${S.alice.userId}`, { userId: 'u-0000000001', scimManaged: true });
  assert.equal(ro.status, 200, `read-only fields sent back are ignored: ${ro.text}`);
  assert.equal(ro.json.userId, S.alice.userId, 'userId is not writable');
  assert.equal(ro.json.scimManaged, false);
  h.assertApiError(await call('PATCH', '/user/u-0000000000', { email: 'z@example.com' }), 404, 'NOT_FOUND', 'PATCH unknown user');
});

test('DELETE /user: 204, then 404', async () => {
  const d = await call('DELETE', `/user/${S.alice.userId}`);
  assert.equal(d.status, 204, d.text);
  h.assertApiError(await call('GET', `/user/${S.alice.userId}`), 404, 'NOT_FOUND', 'deleted user');
  h.assertApiError(await call('DELETE', `/user/${S.alice.userId}`), 404, 'NOT_FOUND', 'delete twice');
  const byEmail = await call('DELETE', '/user/email=bob@example.com');
  assert.equal(byEmail.status, 204, byEmail.text);
});

/* ---- CLI role/user commands ---------------------------------------------------------- */

test('CLI: role create/list/grant-privilege/grant-role and user create, with exit statuses', async () => {
  const db = srv.db;
  assert.equal(h.cli(db, ['role', 'create', 'cli_role', '--description', 'from the cli']).status, 0);
  assert.equal(h.cli(db, ['role', 'create', 'cli_base']).status, 0);
  assert.equal(h.cli(db, ['role', 'create', 'cli_role']).status, 1, 'duplicate role name exits 1');
  assert.equal(h.cli(db, ['role', 'create', 'Bad Name']).status, 1, 'invalid role name exits 1');
  assert.equal(h.cli(db, ['role', 'create']).status, 2, 'role create without a name is a usage error');
  assert.equal(h.cli(db, ['role', 'grant-privilege', 'cli_role', 'CreateRole']).status, 0);
  assert.equal(h.cli(db, ['role', 'grant-privilege', 'cli_role', 'ViewAuditLog', '--deny']).status, 0);
  assert.equal(h.cli(db, ['role', 'grant-privilege', 'cli_role', 'Not A Privilege']).status, 1, 'bad privilege exits 1');
  assert.equal(h.cli(db, ['role', 'grant-privilege', 'nosuchrole', 'CreateRole']).status, 1, 'unknown role exits 1');
  assert.equal(h.cli(db, ['role', 'grant-role', 'cli_role', 'cli_base']).status, 0);
  assert.equal(h.cli(db, ['role', 'grant-role', 'cli_base', 'cli_role']).status, 1, 'a cycle via the CLI exits 1');
  assert.equal(h.cli(db, ['user', 'create', 'carol@example.com', '--role', 'cli_role']).status, 0);
  assert.equal(h.cli(db, ['user', 'create', 'carol@example.com', '--role', 'cli_role']).status, 1, 'duplicate email exits 1');
  assert.equal(h.cli(db, ['token', 'create', '--role', 'nosuchrole', '--description', 'x']).status, 1, 'token for an unknown role exits 1');
  assert.equal(h.cli(db, ['token', 'create', '--description', 'x']).status, 2, 'token create without --role is a usage error');
  assert.equal(h.cli(db, ['token', 'frobnicate']).status, 2, 'unknown verb is a usage error');
  assert.equal(h.cli(db, ['token', 'list', '--bogus']).status, 2, 'unknown option is a usage error');

  const list = h.cliJson(db, ['role', 'list', '--json']);
  assert.ok(Array.isArray(list), 'role list --json prints an array');
  const cr = list.find((r) => r.roleName === 'cli_role');
  assert.ok(cr, 'cli_role listed');
  assert.equal(cr.roleDescription, 'from the cli');

  // The API sees the CLI's work (reads within 1 s of the write).
  const w = await h.waitFor(async () => {
    const r = await call('GET', '/role/name=cli_role');
    return r.status === 200 && r.json.directlyGrantedRoles.length === 1 ? r : null;
  }, 1500, 50);
  assert.ok(w.ok, 'GET /role/name=cli_role shows the CLI grant');
  assert.equal(w.value.json.directlyGrantedRoles[0].roleName, 'cli_base');
  const privs = await call('GET', '/role/name=cli_role/privilege');
  assert.deepEqual(privs.json.result.map((x) => `${x.grantKind} ${x.privilege}`).sort(), ['Allow CreateRole', 'Deny ViewAuditLog']);
  const carol = await call('GET', '/user/email=carol@example.com');
  assert.equal(carol.status, 200, carol.text);
  assert.deepEqual(carol.json.directlyGrantedRoles.map((g) => g.roleName), ['cli_role']);
  assertUserShape(carol.json);

  // The issue asks for --help on each command; asking for help is not a usage error.
  const helpFails = [];
  for (const args of [['--help'], ['serve', '--help'], ['token', '--help'], ['token', 'create', '--help'], ['token', 'list', '--help'],
    ['token', 'revoke', '--help'], ['role', '--help'], ['role', 'create', '--help'], ['role', 'grant-privilege', '--help'],
    ['user', '--help'], ['user', 'create', '--help']]) {
    const r = h.cli(db, args);
    if (r.status !== 0 || !/usage/i.test(r.stdout + r.stderr)) {
      helpFails.push(`keygate ${args.join(' ')}: exit ${r.status}, ${JSON.stringify((r.stdout + r.stderr).slice(0, 60))}`);
    }
  }
  assert.deepEqual(helpFails, [], '--help prints usage and exits 0');
});

test('concurrent requests: 40 exchanges, 40 reads and 20 role creations in parallel all succeed', async () => {
  const jobs = [];
  for (let i = 0; i < 40; i++) jobs.push(h.exchange(srv.base, boot.clientId, boot.clientSecret).then((r) => ['exchange', r]));
  for (let i = 0; i < 40; i++) jobs.push(call('GET', '/apiToken?pageSize=5').then((r) => ['read', r]));
  for (let i = 0; i < 20; i++) jobs.push(call('POST', '/role', { grantToCreatingRole: true, roleName: `par_${i}` }).then((r) => ['create', r]));
  const results = await Promise.all(jobs);
  const bad = results.filter(([k, r]) => r.status !== 200).map(([k, r]) => `${k}: ${r.status} ${r.text.slice(0, 100)}`);
  assert.deepEqual(bad, [], 'every parallel request succeeds');
  const jtis = results.filter(([k]) => k === 'exchange').map(([, r]) => h.decodeJwt(r.json.access_token).payload.jti);
  assert.equal(new Set(jtis).size, 40, 'distinct jti under concurrency');
  const ids = results.filter(([k]) => k === 'create').map(([, r]) => r.json.roleId);
  assert.equal(new Set(ids).size, 20, 'distinct roleIds under concurrency');
  const all = await listed('/role');
  for (let i = 0; i < 20; i++) assert.ok(all.json.result.some((r) => r.roleName === `par_${i}`), `par_${i} stored`);
});
