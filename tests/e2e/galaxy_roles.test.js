'use strict';
// Galaxy's Role, RoleGrant, NewRole and User shapes, GET /role/{id}/rolegrant, optimistic
// concurrency (syncToken: a stale one is 409 ABORTED, and concurrent PATCHes lose nothing),
// and get-modify-patch bodies (read-only fields sent back are ignored).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const { V1, api } = h;

let srv;
let boot; // accountadmin token (CLI-created) with .access
const S = {};

const call = (method, p, body, token = boot.access) => api(srv.base, method, `${V1}${p}`, { token, body });

async function newRole(roleName, extra = {}, token = boot.access) {
  const r = await call('POST', '/role', { roleName, grantToCreatingRole: true, ...extra }, token);
  assert.equal(r.status, 200, `POST /role ${roleName}: ${r.status} ${r.text}`);
  return r.json;
}

/* A token for a role (the CLI operator may hand out any role), with its access token. */
async function cliToken(roleName) {
  const t = h.cliJson(srv.db, ['token', 'create', '--role', roleName, '--description', roleName, '--json']);
  const r = await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret);
  assert.equal(r.status, 200, r.text);
  return { ...t, access: r.json.access_token };
}

before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv);
  S.aa = (await call('GET', '/role/name=accountadmin')).json;
  S.pub = (await call('GET', '/role/name=public')).json;
});

after(async () => {
  if (srv) await srv.stop();
});

test('NewRole: grantToCreatingRole is required; grantToCreatorRole is its alias; create answers 200', async () => {
  const missing = await call('POST', '/role', { roleName: 'nope', roleDescription: 'd' });
  h.assertApiError(missing, 400, 'INVALID_ARGUMENT', 'no grantToCreatingRole');
  assert.match(missing.json.message, /grantToCreatingRole/);
  h.assertApiError(await call('POST', '/role', { roleName: 'nope', grantToCreatingRole: 'yes' }), 400, 'INVALID_ARGUMENT', 'not a boolean');
  h.assertApiError(await call('POST', '/role', { roleName: 'nope', grantToCreatingRole: true, grantToCreatorRole: false }), 400,
    'INVALID_ARGUMENT', 'the two names disagree');
  assert.equal((await call('GET', '/role/name=nope')).status, 404, 'nothing was made');

  const galaxy = await call('POST', '/role', { roleName: 'g_made', roleDescription: 'from a Galaxy script', grantToCreatingRole: true });
  assert.equal(galaxy.status, 200, galaxy.text);
  assert.match(galaxy.json.roleId, h.ROLE_ID_RE);
  const alias = await call('POST', '/role', { roleName: 'alias_made', grantToCreatorRole: false });
  assert.equal(alias.status, 200, alias.text);
  const both = await call('POST', '/role', { roleName: 'both_made', grantToCreatingRole: false, grantToCreatorRole: false });
  assert.equal(both.status, 200, both.text);
  // The CLI operator's token role is accountadmin: it owns them (and, built in, is not changed).
  for (const r of [galaxy.json, alias.json, both.json]) assert.equal(r.owningRoleId, S.aa.roleId, r.roleName);
});

test('owningRoleId is the creating role; grantToCreatingRole grants the new role to it, or not', async () => {
  const maker = await newRole('maker');
  const g = await call('POST', `/role/${maker.roleId}/privilege:grant`, { grantKind: 'Allow', privilege: 'CreateRole' });
  assert.equal(g.status, 204, g.text);
  const t = await cliToken('maker');
  const granted = await newRole('made_granted', {}, t.access);
  assert.equal(granted.owningRoleId, maker.roleId);
  const kept = await call('POST', '/role', { roleName: 'made_kept', grantToCreatingRole: false }, t.access);
  assert.equal(kept.status, 200, kept.text);
  assert.equal(kept.json.owningRoleId, maker.roleId);
  const now = (await call('GET', `/role/${maker.roleId}`)).json;
  assert.deepEqual(now.directlyGrantedRoles.map((x) => x.roleName), ['made_granted']);
  assert.notEqual(now.syncToken, maker.syncToken, 'the grant changed the creating role');

  // A deleted owner hands its roles to accountadmin.
  const owner = await newRole('owner_gone');
  assert.equal((await call('POST', `/role/${owner.roleId}/privilege:grant`, { grantKind: 'Allow', privilege: 'CreateRole' })).status, 204);
  const ot = await cliToken('owner_gone');
  const orphan = await newRole('orphan', {}, ot.access);
  assert.equal(orphan.owningRoleId, owner.roleId);
  h.cli(srv.db, ['token', 'revoke', ot.clientId]);
  await h.waitFor(async () => (await call('DELETE', `/role/${owner.roleId}`)).status === 204, 3000);
  const after = (await call('GET', `/role/${orphan.roleId}`)).json;
  assert.equal(after.owningRoleId, S.aa.roleId);
  assert.notEqual(after.syncToken, orphan.syncToken);
});

test('Role: directlyGrantedRoles and allRoles are RoleGrants; allRoles follows grants transitively', async () => {
  const c = await newRole('tc');
  const b = await newRole('tb', { directlyGrantedRoles: [{ roleId: c.roleId }] });
  const a = await newRole('ta', { directlyGrantedRoles: [{ roleId: b.roleId }, { roleId: S.pub.roleId }] });
  assert.deepEqual(Object.keys(a), ['roleId', 'roleName', 'roleDescription', 'owningRoleId', 'directlyGrantedRoles', 'allRoles',
    'createdOn', 'modifiedOn', 'syncToken']);
  assert.deepEqual(a.directlyGrantedRoles, [
    { roleId: S.pub.roleId, roleName: 'public', principal: { type: 'Role', id: a.roleId }, adminOption: false },
    { roleId: b.roleId, roleName: 'tb', principal: { type: 'Role', id: a.roleId }, adminOption: false },
  ]);
  assert.deepEqual(a.allRoles, [...a.directlyGrantedRoles,
    { roleId: c.roleId, roleName: 'tc', principal: { type: 'Role', id: b.roleId }, adminOption: false }]);
  assert.equal(a.roleDescription, '');
  assert.match(a.createdOn, h.TIME_RE);
  assert.match(a.syncToken, /^\S+$/);
  S.a = a;
  S.b = b;
  S.c = c;
});

test('GET /role/{roleId}/rolegrant: type Direct (the default) or All, paged; another type is 400', async () => {
  const direct = await call('GET', `/role/${S.a.roleId}/rolegrant`);
  assert.equal(direct.status, 200, direct.text);
  assert.deepEqual(direct.json, { nextPageToken: '', result: S.a.directlyGrantedRoles });
  assert.deepEqual((await call('GET', `/role/${S.a.roleId}/rolegrant?type=Direct`)).json, direct.json);
  const all = await call('GET', `/role/name=ta/rolegrant?type=All`);
  assert.deepEqual(all.json, { nextPageToken: '', result: S.a.allRoles });
  const pages = await h.listAll(srv.base, boot.access, `${V1}/role/${S.a.roleId}/rolegrant`, 1, 10);
  assert.deepEqual(pages.flatMap((p) => p.result), S.a.directlyGrantedRoles, 'Direct, one a page');
  const p1 = await call('GET', `/role/${S.a.roleId}/rolegrant?type=All&pageSize=2`);
  assert.equal(p1.json.result.length, 2);
  const p2 = await call('GET', `/role/${S.a.roleId}/rolegrant?type=All&pageSize=2&pageToken=${encodeURIComponent(p1.json.nextPageToken)}`);
  assert.deepEqual([...p1.json.result, ...p2.json.result], S.a.allRoles);
  assert.equal(p2.json.nextPageToken, '');
  h.assertApiError(await call('GET', `/role/${S.a.roleId}/rolegrant?type=Indirect`), 400, 'INVALID_ARGUMENT', 'type=Indirect');
  h.assertApiError(await call('GET', `/role/${S.a.roleId}/rolegrant?pageSize=101`), 400, 'INVALID_ARGUMENT', 'pageSize=101');
  h.assertApiError(await call('GET', '/role/r-0000000000/rolegrant'), 404, 'NOT_FOUND', 'no such role');
  const none = await call('GET', `/role/${S.c.roleId}/rolegrant?type=All`);
  assert.deepEqual(none.json, { nextPageToken: '', result: [] });
});

test('User: defaultRoleId, scimManaged, RoleGrants with the user as principal, syncToken', async () => {
  const u = await call('POST', '/user', { email: 'galaxy@example.com', directlyGrantedRoles: [{ roleId: S.a.roleId }] });
  assert.equal(u.status, 201, u.text);
  const got = (await call('GET', `/user/${u.json.userId}`)).json;
  assert.deepEqual(Object.keys(got), ['userId', 'email', 'defaultRoleId', 'createdOn', 'scimManaged', 'directlyGrantedRoles',
    'allRoles', 'syncToken']);
  assert.match(got.userId, h.USER_ID_RE);
  assert.equal(got.defaultRoleId, S.a.roleId, 'the first directly granted role');
  assert.equal(got.scimManaged, false);
  assert.deepEqual(got.directlyGrantedRoles, [{ roleId: S.a.roleId, roleName: 'ta', principal: { type: 'User', id: got.userId }, adminOption: false }]);
  assert.deepEqual(got.allRoles.map((g) => [g.roleName, g.principal.id]),
    [['ta', got.userId], ['public', S.a.roleId], ['tb', S.a.roleId], ['tc', S.b.roleId]]);
  const bare = await call('POST', '/user', { email: 'bare@example.com' });
  assert.equal(bare.json.defaultRoleId, S.pub.roleId, 'public when the user holds no role');
  S.user = got;
});

test('PATCH: get-modify-patch of a whole Role or User works; other unknown fields are still 400', async () => {
  const r = (await call('GET', `/role/${S.b.roleId}`)).json;
  const p = await call('PATCH', `/role/${r.roleId}`, { ...r, roleDescription: 'patched whole' });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.roleDescription, 'patched whole');
  assert.deepEqual(p.json.directlyGrantedRoles, r.directlyGrantedRoles, 'RoleGrants sent back are taken as they are');
  assert.notEqual(p.json.syncToken, r.syncToken);
  assert.equal(p.json.createdOn, r.createdOn);
  const odd = await call('PATCH', `/role/${r.roleId}`, { roleDescription: 'x', color: 'red' });
  h.assertApiError(odd, 400, 'INVALID_ARGUMENT', 'unknown field');
  assert.match(odd.json.message, /color/);
  h.assertApiError(await call('PATCH', `/role/${r.roleId}`, { directlyGrantedRoles: [{ roleId: S.c.roleId, adminOption: true }] }), 400,
    'INVALID_ARGUMENT', 'adminOption true');

  const u = (await call('GET', `/user/${S.user.userId}`)).json;
  const pu = await call('PATCH', `/user/${u.userId}`, { ...u, email: 'galaxy2@example.com' });
  assert.equal(pu.status, 200, pu.text);
  assert.equal(pu.json.email, 'galaxy2@example.com');
  assert.deepEqual(h.refs(pu.json.directlyGrantedRoles), h.refs(u.directlyGrantedRoles));
  assert.notEqual(pu.json.syncToken, u.syncToken);
  h.assertApiError(await call('PATCH', `/user/${u.userId}`, { nickname: 'g' }), 400, 'INVALID_ARGUMENT', 'unknown user field');
  S.user = pu.json;
});

test('syncToken: a stale one is 409 ABORTED and changes nothing; a malformed one is 400', async () => {
  const r = (await call('GET', `/role/${S.c.roleId}`)).json;
  const first = await call('PATCH', `/role/${r.roleId}`, { roleDescription: 'first', syncToken: r.syncToken });
  assert.equal(first.status, 200, first.text);
  const stale = await call('PATCH', `/role/${r.roleId}`, { roleDescription: 'second', syncToken: r.syncToken });
  h.assertApiError(stale, 409, 'ABORTED', 'stale syncToken');
  assert.equal((await call('GET', `/role/${r.roleId}`)).json.roleDescription, 'first');
  const fresh = await call('PATCH', `/role/${r.roleId}`, { roleDescription: 'third', syncToken: first.json.syncToken });
  assert.equal(fresh.status, 200, fresh.text);
  h.assertApiError(await call('PATCH', `/role/${r.roleId}`, { syncToken: 'garbage' }), 400, 'INVALID_ARGUMENT', 'malformed');
  h.assertApiError(await call('PATCH', `/role/${r.roleId}`, { syncToken: 7 }), 400, 'INVALID_ARGUMENT', 'not a string');

  const u = S.user;
  assert.equal((await call('PATCH', `/user/${u.userId}`, { email: 'g3@example.com', syncToken: u.syncToken })).status, 200);
  h.assertApiError(await call('PATCH', `/user/${u.userId}`, { email: 'g4@example.com', syncToken: u.syncToken }), 409, 'ABORTED', 'stale user');
  assert.equal((await call('GET', `/user/${u.userId}`)).json.email, 'g3@example.com');
  const now = (await call('GET', `/user/${u.userId}`)).json;
  assert.equal((await call('PATCH', `/user/${u.userId}`, { syncToken: now.syncToken })).status, 200, 'an empty change with a fresh token');
});

test('concurrent PATCHes: with one syncToken exactly one wins, the other is 409; without, none is lost', async () => {
  for (let round = 0; round < 5; round++) {
    const r = (await call('GET', `/role/${S.b.roleId}`)).json;
    const [x, y] = await Promise.all([
      call('PATCH', `/role/${r.roleId}`, { roleDescription: `x${round}`, syncToken: r.syncToken }),
      call('PATCH', `/role/${r.roleId}`, { roleDescription: `y${round}`, syncToken: r.syncToken }),
    ]);
    const statuses = [x.status, y.status].sort();
    assert.deepEqual(statuses, [200, 409], `round ${round}: ${x.text} / ${y.text}`);
    const winner = x.status === 200 ? x : y;
    const now = (await call('GET', `/role/${r.roleId}`)).json;
    assert.equal(now.roleDescription, winner.json.roleDescription, 'the winner\'s change is what is stored');
    assert.equal(now.syncToken, winner.json.syncToken);
  }
  // Without a syncToken each PATCH applies to the role as it is: a rename and a new
  // description sent together both survive (a read-modify-write would undo one of them).
  for (let round = 0; round < 10; round++) {
    const [n, d] = await Promise.all([
      call('PATCH', `/role/${S.b.roleId}`, { roleName: `tb_${round}` }),
      call('PATCH', `/role/${S.b.roleId}`, { roleDescription: `d_${round}` }),
    ]);
    assert.equal(n.status, 200, n.text);
    assert.equal(d.status, 200, d.text);
    const now = (await call('GET', `/role/${S.b.roleId}`)).json;
    assert.equal(now.roleName, `tb_${round}`, `round ${round}: the rename was kept`);
    assert.equal(now.roleDescription, `d_${round}`, `round ${round}: the description was kept`);
  }
  const users = await Promise.all([0, 1, 2, 3].map((i) => call('POST', '/user', { email: `c${i}@example.com`, password: 'long enough pw' })));
  const uid = users[0].json.userId;
  const [e, g] = await Promise.all([
    call('PATCH', `/user/${uid}`, { email: 'c_renamed@example.com' }),
    call('PATCH', `/user/${uid}`, { directlyGrantedRoles: [{ roleId: S.c.roleId }] }),
  ]);
  assert.equal(e.status, 200, e.text);
  assert.equal(g.status, 200, g.text);
  const u = (await call('GET', `/user/${uid}`)).json;
  assert.equal(u.email, 'c_renamed@example.com');
  assert.deepEqual(u.directlyGrantedRoles.map((x) => x.roleId), [S.c.roleId]);
});

test('the CLI shows the same shapes and still grants roles to roles', async () => {
  const r = h.cliJson(srv.db, ['role', 'create', 'cli_made', '--json']);
  assert.equal(r.owningRoleId, S.aa.roleId, 'the operator creates as accountadmin');
  assert.deepEqual(r.allRoles, []);
  const g = h.cli(srv.db, ['role', 'grant-role', 'cli_made', 'tc']);
  assert.equal(g.status, 0, g.stderr);
  const listed = h.cliJson(srv.db, ['role', 'list', '--json']).find((x) => x.roleName === 'cli_made');
  assert.deepEqual(listed.directlyGrantedRoles.map((x) => [x.roleName, x.principal.id]), [['tc', r.roleId]]);
  assert.notEqual(listed.syncToken, r.syncToken);
});
