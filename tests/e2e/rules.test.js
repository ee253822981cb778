'use strict';
// Authority rules beyond token creation: accountadmin cannot be locked out by a Deny, a
// security admin cannot change roles or users above itself, and RFC 6750 challenge details.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const { V1, api } = h;
let srv, boot, sec, secAccess, other, adminUser;

async function ok(res, status, what) {
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status} ${res.text}`);
  return res.json;
}

before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv, 'rules');
  const T = { token: boot.access };
  sec = await ok(await api(srv.base, 'POST', `${V1}/role`, { ...T, body: { grantToCreatingRole: true, roleName: 'secadmin' } }), 200, 'create secadmin');
  await ok(await api(srv.base, 'POST', `${V1}/role/${sec.roleId}/privilege:grant`, { ...T, body: { grantKind: 'Allow', privilege: 'ManageSecurity' } }), 204, 'grant ManageSecurity');
  other = await ok(await api(srv.base, 'POST', `${V1}/role`, { ...T, body: { grantToCreatingRole: true, roleName: 'other' } }), 200, 'create other');
  adminUser = await ok(await api(srv.base, 'GET', `${V1}/user/email=admin@localhost`, T), 200, 'the bootstrap admin user');
  const t = await ok(await api(srv.base, 'POST', `${V1}/apiToken`, { ...T, body: { description: 'sec', roleId: sec.roleId } }), 201, 'secadmin token');
  secAccess = (await h.exchange(srv.base, t.clientId, t.clientSecret)).json.access_token;
  assert.ok(secAccess, 'secadmin access token');
});

after(async () => { if (srv) await srv.stop(); });

test('a Deny on public binds everyone but accountadmin, and the CLI can take it back', async () => {
  const pub = await ok(await api(srv.base, 'GET', `${V1}/role/name=public`, { token: boot.access }), 200, 'public');
  await ok(await api(srv.base, 'POST', `${V1}/role/${pub.roleId}/privilege:grant`, {
    token: secAccess, body: { grantKind: 'Deny', privilege: 'ManageSecurity' },
  }), 204, 'secadmin denies ManageSecurity on public');
  await ok(await api(srv.base, 'GET', `${V1}/apiToken`, { token: boot.access }), 200, 'accountadmin is not locked out');
  h.assertApiError(await api(srv.base, 'GET', `${V1}/apiToken`, { token: secAccess }), 403, 'PERMISSION_DENIED', 'secadmin under the Deny');

  const r = h.cli(srv.db, ['role', 'revoke-privilege', 'public', 'ManageSecurity', '--deny']);
  assert.equal(r.status, 0, `role revoke-privilege exited ${r.status}: ${r.stderr}`);
  const w = await h.waitFor(async () => {
    const x = await api(srv.base, 'GET', `${V1}/apiToken`, { token: secAccess });
    return x.status === 200 ? x : null;
  }, 1500, 50);
  assert.ok(w.ok, 'secadmin works again within 1.5 s of the CLI revoke-privilege');
  const privs = await ok(await api(srv.base, 'GET', `${V1}/role/${pub.roleId}/privilege`, { token: boot.access }), 200, 'public privileges');
  assert.deepEqual(privs.result, [], 'public holds no privilege afterwards');
  const again = h.cli(srv.db, ['role', 'revoke-privilege', 'public', 'ManageSecurity', '--deny']);
  assert.equal(again.status, 0, 'revoking what is not granted is not an error');
  assert.match(again.stdout, /was not granted/);
});

test('a security admin cannot change or delete a user or role above itself', async () => {
  const S = { token: secAccess };
  h.assertApiError(await api(srv.base, 'PATCH', `${V1}/user/${adminUser.userId}`, { ...S, body: { password: 'attacker-chosen-pw' } }),
    403, 'PERMISSION_DENIED', 'reset the accountadmin user\'s password');
  h.assertApiError(await api(srv.base, 'PATCH', `${V1}/user/${adminUser.userId}`, { ...S, body: { directlyGrantedRoles: [] } }),
    403, 'PERMISSION_DENIED', 'strip the accountadmin user\'s roles');
  h.assertApiError(await api(srv.base, 'DELETE', `${V1}/user/${adminUser.userId}`, S), 403, 'PERMISSION_DENIED', 'delete the accountadmin user');
  h.assertApiError(await api(srv.base, 'PATCH', `${V1}/role/${other.roleId}`, { ...S, body: { roleDescription: 'mine now' } }),
    403, 'PERMISSION_DENIED', 'change a role outside its set');
  h.assertApiError(await api(srv.base, 'POST', `${V1}/role/${other.roleId}/privilege:grant`, { ...S, body: { grantKind: 'Allow', privilege: 'orders.read' } }),
    403, 'PERMISSION_DENIED', 'grant a privilege to a role outside its set');
  h.assertApiError(await api(srv.base, 'DELETE', `${V1}/role/${other.roleId}`, S), 403, 'PERMISSION_DENIED', 'delete a role outside its set');

  const u = await ok(await api(srv.base, 'GET', `${V1}/user/${adminUser.userId}`, { token: boot.access }), 200, 'admin user');
  assert.deepEqual(u, adminUser, 'the admin user is unchanged');
  const o = await ok(await api(srv.base, 'GET', `${V1}/role/${other.roleId}`, { token: boot.access }), 200, 'other role');
  assert.deepEqual(o, other, 'the other role is unchanged');
  const p = await ok(await api(srv.base, 'GET', `${V1}/role/${other.roleId}/privilege`, { token: boot.access }), 200, 'other privileges');
  assert.deepEqual(p.result, []);

  // Within its own set it may: a user holding only public, and a role it made itself.
  const mine = await ok(await api(srv.base, 'POST', `${V1}/role`, { ...S, body: { grantToCreatingRole: true, roleName: 'made_by_sec' } }), 200, 'secadmin makes a role');
  const secNow = await ok(await api(srv.base, 'GET', `${V1}/role/${sec.roleId}`, { token: boot.access }), 200, 'secadmin role');
  assert.ok(secNow.directlyGrantedRoles.some((g) => g.roleId === mine.roleId), 'the new role is granted to its creator\'s role');
  await ok(await api(srv.base, 'PATCH', `${V1}/role/${mine.roleId}`, { ...S, body: { roleDescription: 'ok' } }), 200, 'change its own role');
  const plain = await ok(await api(srv.base, 'POST', `${V1}/user`, { ...S, body: { email: 'plain@example.com' } }), 201, 'a plain user');
  await ok(await api(srv.base, 'PATCH', `${V1}/user/${plain.userId}`, { ...S, body: { directlyGrantedRoles: [{ roleId: mine.roleId }] } }), 200, 'grant it a held role');
});

test('401 challenges: no error code without credentials, invalid_token with bad ones', async () => {
  const none = await api(srv.base, 'GET', `${V1}/apiToken`, {});
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="keygate"');
  const bad = await api(srv.base, 'GET', `${V1}/apiToken`, { token: 'not-a-jwt' });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get('www-authenticate'), /^Bearer realm="keygate", error="invalid_token"$/);
});
