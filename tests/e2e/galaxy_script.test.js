'use strict';
// A Galaxy automation script, replayed against keygate (issue 17): what a script written for
// Starburst Galaxy's access-control API does, step by step, with Galaxy's request bodies and
// the fields Galaxy's clients read — an access token by HTTP Basic, roles listed 100 a page,
// a role found by name=, a role made with grantToCreatingRole, privileges granted, listed and
// revoked with GrantPrivilege/RevokePrivilege bodies on the account, a get-modify-patch with
// the syncToken read, the role deleted, and users paged through.  Every answer is also held to
// doc/openapi.json by the helpers (contract.js).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const { V1 } = h;
let srv, boot, bearer;

before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv, 'galaxy script');
});
after(async () => { if (srv) await srv.stop(); });

/* The script's own client: Galaxy's base path, its bearer, JSON in and out. */
async function galaxy(method, p, body) {
  const r = await h.api(srv.base, method, `${V1}${p}`, { token: bearer, body });
  assert.ok(r.status < 500, `${method} ${p}: ${r.status} ${r.text}`);
  return r;
}

/* Follows nextPageToken until it is empty, as Galaxy's clients do. */
async function all(p, pageSize) {
  const items = [];
  let token = '';
  for (let pages = 0; pages < 1000; pages++) {
    const sep = p.includes('?') ? '&' : '?';
    const r = await galaxy('GET', `${p}${sep}pageSize=${pageSize}${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.result.length <= pageSize, `at most ${pageSize} a page`);
    items.push(...r.json.result);
    token = r.json.nextPageToken;
    if (!token) return items;
  }
  assert.fail(`${p}: more than 1000 pages`);
}

test('a Galaxy script: token by Basic auth, roles by page and by name, a role with privileges granted and revoked on the account, get-modify-patch, delete, users paged', async () => {
  // 1. the access token, as Galaxy's documentation shows: Basic clientId:secret, client credentials
  const t = await fetch(`${srv.base}/oauth/v2/token`, {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${boot.clientId}:${boot.clientSecret}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
    signal: AbortSignal.timeout(10000),
  });
  assert.equal(t.status, 200);
  const tok = await t.json();
  assert.equal(tok.token_type, 'Bearer');
  bearer = tok.access_token;

  // 2. every role, 100 a page (Galaxy's largest); a larger page is refused
  const roles = await all('/role', 100);
  assert.ok(roles.some((r) => r.roleName === 'accountadmin'));
  for (const r of roles) {
    for (const k of ['roleId', 'roleName', 'roleDescription', 'owningRoleId', 'directlyGrantedRoles', 'allRoles', 'createdOn', 'modifiedOn', 'syncToken']) {
      assert.ok(k in r, `a Role has ${k}`);
    }
    assert.match(r.roleId, /^r-\d{10}$/);
  }
  h.assertApiError(await galaxy('GET', '/role?pageSize=101'), 400, 'INVALID_ARGUMENT', 'pageSize over 100');

  // 3. a role found by name=
  const admin = await galaxy('GET', '/role/name=accountadmin');
  assert.equal(admin.status, 200);
  assert.equal(admin.json.roleName, 'accountadmin');

  // 4. a new role with Galaxy's NewRole: 200 and the Role
  const made = await galaxy('POST', '/role', { roleName: 'script_role', roleDescription: 'made by a Galaxy script', grantToCreatingRole: true });
  assert.equal(made.status, 200, made.text);
  const role = made.json;
  assert.equal(role.roleName, 'script_role');
  assert.equal(role.owningRoleId, admin.json.roleId, 'owned by the role the script acted as');
  // (the grant to the creating role is galaxy_roles.test.js's: accountadmin, built in, is never changed)
  h.assertApiError(await galaxy('POST', '/role', { roleName: 'no_flag' }), 400, 'INVALID_ARGUMENT', 'grantToCreatingRole is required');

  // 5. privileges on the account, with Galaxy's bodies
  const account = await galaxy('GET', '/account');
  assert.equal(account.status, 200);
  const entity = { entityKind: 'Account', entityId: account.json.accountId };
  for (const privilege of ['CreateRole', 'ViewAuditLog']) {
    const g = await galaxy('POST', `/role/${role.roleId}/privilege:grant`, { grantKind: 'Allow', ...entity, grantOption: privilege === 'CreateRole', privilege });
    assert.equal(g.status, 204, g.text);
  }
  // a body Galaxy would take for a catalog, or with a wrong name, is a 400 naming the field
  const violations = (r) => r.json.details.find((d) => d['@type'].endsWith('.BadRequest')).fieldViolations.map((v) => v.field);
  const catalog = await galaxy('POST', `/role/${role.roleId}/privilege:grant`, { grantKind: 'Allow', entityKind: 'Catalog', entityId: 'c-1', grantOption: false, privilege: 'orders.read' });
  assert.equal(catalog.status, 400);
  assert.deepEqual(violations(catalog), ['entityKind']);
  const badName = await galaxy('POST', '/role', { roleName: 'Not A Name', grantToCreatingRole: true });
  assert.deepEqual([badName.status, violations(badName)], [400, ['roleName']]);
  const privs = await all(`/role/${role.roleId}/privilege`, 100);
  assert.deepEqual(privs, [
    { grantKind: 'Allow', ...entity, grantOption: true, privilege: 'CreateRole' },
    { grantKind: 'Allow', ...entity, grantOption: false, privilege: 'ViewAuditLog' },
  ]);
  const revoked = await galaxy('POST', `/role/${role.roleId}/privilege:revoke`, { ...entity, privilege: 'ViewAuditLog', revokeAction: 'RemoveRoleGrant' });
  assert.equal(revoked.status, 204, revoked.text);
  const dropOption = await galaxy('POST', `/role/${role.roleId}/privilege:revoke`, { ...entity, privilege: 'CreateRole', revokeAction: 'RevokeGrantOption' });
  assert.equal(dropOption.status, 204, dropOption.text);
  assert.deepEqual(await all(`/role/${role.roleId}/privilege`, 100), [{ grantKind: 'Allow', ...entity, grantOption: false, privilege: 'CreateRole' }]);

  // 6. get, modify, patch the whole object back with the syncToken read; a stale one is 409
  const before = (await galaxy('GET', `/role/${role.roleId}`)).json;
  const patched = await galaxy('PATCH', `/role/${role.roleId}`, { ...before, roleDescription: 'changed by the script' });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.json.roleDescription, 'changed by the script');
  assert.notEqual(patched.json.syncToken, before.syncToken);
  h.assertApiError(await galaxy('PATCH', `/role/${role.roleId}`, { ...before, roleDescription: 'stale' }), 409, 'ABORTED', 'a stale syncToken');

  // 7. the role deleted
  assert.equal((await galaxy('DELETE', `/role/${role.roleId}`)).status, 204);
  assert.equal((await galaxy('GET', `/role/${role.roleId}`)).status, 404);

  // 8. users paged through, 2 a page
  for (let i = 0; i < 4; i++) {
    const u = await galaxy('POST', '/user', { email: `script${i}@example.com`, directlyGrantedRoles: [{ roleId: admin.json.roleId }] });
    assert.equal(u.status, 201, u.text);
  }
  const users = await all('/user', 2);
  assert.equal(users.length, 5, 'admin@localhost and the four');
  assert.equal(new Set(users.map((u) => u.userId)).size, 5, 'no user twice across pages');
  for (const u of users) {
    for (const k of ['userId', 'email', 'defaultRoleId', 'createdOn', 'scimManaged', 'directlyGrantedRoles', 'allRoles', 'syncToken']) {
      assert.ok(k in u, `a User has ${k}`);
    }
    assert.equal(u.scimManaged, false);
  }
});
