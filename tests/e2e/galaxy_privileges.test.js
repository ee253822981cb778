'use strict';
// Privileges in Galaxy's shapes (issue 17): the account (GET /account), GrantPrivilege and
// RevokePrivilege bodies (and keygate's older {grantKind, privilege}, still taken), the
// Privilege items of GET …/privilege with listAllPrivileges, the grant option stored and
// honoured in both directions, and the CLI's --grant-option.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers.js');

const { V1, api } = h;

let srv;
let boot; // accountadmin token (CLI-created) with .access
let account; // this deployment's account ID
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-galaxy-'));

const call = (method, p, body, token = boot.access) => api(srv.base, method, `${V1}${p}`, { token, body });

async function createRole(roleName, extra = {}) {
  const r = await call('POST', '/role', { roleName, grantToCreatingRole: false, ...extra });
  assert.equal(r.status, 200, `POST /role ${roleName}: ${r.status} ${r.text}`);
  return r.json;
}

/* A Galaxy GrantPrivilege body for this account. */
const galaxyGrant = (privilege, { grantKind = 'Allow', grantOption = false } = {}) =>
  ({ grantKind, entityKind: 'Account', entityId: account, grantOption, privilege });
/* A Galaxy RevokePrivilege body for this account. */
const galaxyRevoke = (privilege, revokeAction = 'RemoveRoleGrant') =>
  ({ entityKind: 'Account', entityId: account, privilege, revokeAction });

async function ok204(res, what) {
  assert.equal(res.status, 204, `${what}: ${res.status} ${res.text}`);
}

async function privileges(roleId, query = '') {
  const r = await call('GET', `/role/${roleId}/privilege?pageSize=100${query}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.nextPageToken, '');
  return r.json.result;
}

/* A token for a role, made through the CLI (the operator may hand out any role). */
async function cliToken(roleName) {
  const t = h.cliJson(srv.db, ['token', 'create', '--role', roleName, '--description', roleName, '--json']);
  const r = await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret);
  assert.equal(r.status, 200, `exchange for CLI-created ${t.clientId}: ${r.status} ${r.text}`);
  return r.json.access_token;
}

before(async () => {
  srv = await h.startServer({ dir });
  boot = await h.bootstrap(srv);
  const a = await call('GET', '/account');
  assert.equal(a.status, 200, a.text);
  account = a.json.accountId;
});

after(async () => {
  if (srv) await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('GET /account: {accountId} in Galaxy\'s id style, to any authenticated caller', async () => {
  const a = await call('GET', '/account');
  assert.deepEqual(Object.keys(a.json), ['accountId']);
  assert.match(a.json.accountId, /^a-[0-9]{10}$/);
  const none = await createRole('no_privileges');
  const weak = await cliToken(none.roleName);
  const b = await call('GET', '/account', undefined, weak);
  assert.equal(b.status, 200, `a token without privileges reads the account: ${b.status} ${b.text}`);
  assert.deepEqual(b.json, a.json);
  h.assertUnauthenticated(await call('GET', '/account', undefined, null), 'GET /account without a token');
  h.assertApiError(await call('POST', '/account', {}), 405, 'METHOD_NOT_ALLOWED', 'POST /account');
});

test('GrantPrivilege: Galaxy\'s body round-trips as a Privilege item; the older body too', async () => {
  const r = await createRole('galaxy_grants');
  await ok204(await call('POST', `/role/${r.roleId}/privilege:grant`, galaxyGrant('orders.read', { grantOption: true })), 'Galaxy grant');
  await ok204(await call('POST', `/role/${r.roleId}/privilege:grant`,
    { ...galaxyGrant('ViewAuditLog', { grantKind: 'Deny' }), schemaName: null, tableName: null, columnName: null }), 'nulls for the catalog fields');
  await ok204(await call('POST', `/role/${r.roleId}/privilege:grant`, { grantKind: 'Allow', privilege: 'CreateRole' }), 'the older body');
  assert.deepEqual(await privileges(r.roleId), [
    { grantKind: 'Allow', entityKind: 'Account', entityId: account, grantOption: false, privilege: 'CreateRole' },
    { grantKind: 'Deny', entityKind: 'Account', entityId: account, grantOption: false, privilege: 'ViewAuditLog' },
    { grantKind: 'Allow', entityKind: 'Account', entityId: account, grantOption: true, privilege: 'orders.read' },
  ]);
  for (const x of await privileges(r.roleId)) {
    assert.deepEqual(Object.keys(x), ['grantKind', 'entityKind', 'entityId', 'grantOption', 'privilege']);
  }
  // Granting again without the option keeps it: only a revoke takes a grant option away.
  await ok204(await call('POST', `/role/${r.roleId}/privilege:grant`, galaxyGrant('orders.read')), 'grant again');
  assert.equal((await privileges(r.roleId)).find((x) => x.privilege === 'orders.read').grantOption, true);
  // The audit log says which.
  const log = await call('GET', `/auditLog?pageSize=100`);
  const e = log.json.result.find((x) => x.action === 'privilege.grant' && x.target === r.roleId && /orders\.read/.test(x.detail));
  assert.ok(e, JSON.stringify(log.json.result.slice(0, 5)));
  assert.match(log.json.result.filter((x) => x.target === r.roleId).map((x) => x.detail).join('|'), /Allow orders\.read with grant option/);
});

test('GrantPrivilege and RevokePrivilege: each wrong field is a 400 naming it', async () => {
  const r = await createRole('galaxy_bad');
  const bad = [
    [{ ...galaxyGrant('orders.read'), entityKind: 'Catalog' }, /entityKind/, 'another entityKind'],
    [{ ...galaxyGrant('orders.read'), entityKind: 'account' }, /entityKind/, 'entityKind in lower case'],
    [{ ...galaxyGrant('orders.read'), entityId: 'a-0000000000' }, /entityId/, 'another account'],
    [{ ...galaxyGrant('orders.read'), entityId: 5 }, /entityId/, 'a numeric entityId'],
    [{ grantKind: 'Allow', entityKind: 'Account', privilege: 'orders.read' }, /entityId/, 'entityKind without entityId'],
    [{ grantKind: 'Allow', entityId: account, privilege: 'orders.read' }, /entityKind/, 'entityId without entityKind'],
    [{ ...galaxyGrant('orders.read'), schemaName: 'sales' }, /schemaName/, 'a schemaName'],
    [{ ...galaxyGrant('orders.read'), tableName: 'orders' }, /tableName/, 'a tableName'],
    [{ ...galaxyGrant('orders.read'), columnName: 'id' }, /columnName/, 'a columnName'],
    [{ ...galaxyGrant('orders.read'), grantOption: 'yes' }, /grantOption/, 'a string grantOption'],
    [galaxyGrant('orders.read', { grantKind: 'Deny', grantOption: true }), /grantOption/, 'a Deny with grant option'],
    [{ ...galaxyGrant('orders.read'), grantKind: 'Grant' }, /grantKind/, 'an unknown grantKind'],
    [{ ...galaxyGrant('orders.read'), privilege: 'Not A Name' }, /privilege/, 'a bad privilege name'],
    [{ ...galaxyGrant('orders.read'), revokeAction: 'RemoveRoleGrant' }, /revokeAction/, 'revokeAction in a grant'],
  ];
  for (const [body, field, what] of bad) {
    const res = await call('POST', `/role/${r.roleId}/privilege:grant`, body);
    h.assertApiError(res, 400, 'INVALID_ARGUMENT', `grant: ${what}`);
    assert.match(res.json.message, field, `grant: ${what}: ${res.json.message}`);
  }
  const badRevoke = [
    [{ ...galaxyRevoke('orders.read'), revokeAction: 'Remove' }, /revokeAction/, 'an unknown revokeAction'],
    [{ ...galaxyRevoke('orders.read'), entityKind: 'Table' }, /entityKind/, 'another entityKind'],
    [{ ...galaxyRevoke('orders.read'), entityId: 'a-9999999999' }, /entityId/, 'another account'],
    [{ ...galaxyRevoke('orders.read'), tableName: 'orders' }, /tableName/, 'a tableName'],
    [{ ...galaxyRevoke('orders.read'), grantOption: true }, /grantOption/, 'grantOption in a revoke'],
    [{ ...galaxyRevoke('orders.read'), grantKind: 'Maybe' }, /grantKind/, 'an unknown grantKind'],
    [{ entityKind: 'Account', entityId: account, revokeAction: 'RemoveRoleGrant' }, /privilege/, 'no privilege'],
  ];
  for (const [body, field, what] of badRevoke) {
    const res = await call('POST', `/role/${r.roleId}/privilege:revoke`, body);
    h.assertApiError(res, 400, 'INVALID_ARGUMENT', `revoke: ${what}`);
    assert.match(res.json.message, field, `revoke: ${what}: ${res.json.message}`);
  }
  assert.deepEqual(await privileges(r.roleId), [], 'nothing was granted');
  h.assertApiError(await call('POST', `/role/${(await call('GET', '/role/name=accountadmin')).json.roleId}/privilege:grant`, galaxyGrant('orders.read')),
    400, 'FAILED_PRECONDITION', 'a grant to accountadmin');
});

test('RevokePrivilege: RevokeGrantOption keeps the privilege; RemoveRoleGrant removes it whatever its kind', async () => {
  const r = await createRole('galaxy_revokes');
  const p = `/role/${r.roleId}/privilege`;
  await ok204(await call('POST', `${p}:grant`, galaxyGrant('orders.read', { grantOption: true })), 'grant');
  await ok204(await call('POST', `${p}:grant`, galaxyGrant('orders.write', { grantKind: 'Deny' })), 'grant a Deny');
  await ok204(await call('POST', `${p}:revoke`, galaxyRevoke('orders.read', 'RevokeGrantOption')), 'RevokeGrantOption');
  assert.deepEqual((await privileges(r.roleId)).map((x) => [x.grantKind, x.privilege, x.grantOption]),
    [['Allow', 'orders.read', false], ['Deny', 'orders.write', false]]);
  await ok204(await call('POST', `${p}:revoke`, galaxyRevoke('orders.read', 'RevokeGrantOption')), 'RevokeGrantOption again: nothing to take');
  await ok204(await call('POST', `${p}:revoke`, galaxyRevoke('orders.write')), 'RemoveRoleGrant of a Deny, no grantKind needed');
  await ok204(await call('POST', `${p}:revoke`, { privilege: 'orders.read' }), 'the shortest keygate body: revokeAction defaults to RemoveRoleGrant');
  assert.deepEqual(await privileges(r.roleId), []);
  await ok204(await call('POST', `${p}:revoke`, galaxyRevoke('orders.read')), 'revoking what is not there');
  // keygate's grantKind in a revoke picks the kind: a Deny is not taken by an Allow's revoke.
  await ok204(await call('POST', `${p}:grant`, galaxyGrant('x.read', { grantKind: 'Deny' })), 'grant a Deny');
  await ok204(await call('POST', `${p}:revoke`, { grantKind: 'Allow', privilege: 'x.read' }), 'revoke of the other kind');
  assert.deepEqual((await privileges(r.roleId)).map((x) => x.grantKind), ['Deny']);
});

test('GET …/privilege?listAllPrivileges=true adds what granted roles hold; paging', async () => {
  const child = await createRole('galaxy_child');
  const grandchild = await createRole('galaxy_grandchild');
  await call('PATCH', `/role/${child.roleId}`, { directlyGrantedRoles: [{ roleId: grandchild.roleId }] });
  const parent = await createRole('galaxy_parent', { directlyGrantedRoles: [{ roleId: child.roleId }] });
  await ok204(await call('POST', `/role/${grandchild.roleId}/privilege:grant`, galaxyGrant('deep.read', { grantOption: true })), 'grandchild');
  await ok204(await call('POST', `/role/${child.roleId}/privilege:grant`, galaxyGrant('a.read')), 'child');
  await ok204(await call('POST', `/role/${child.roleId}/privilege:grant`, galaxyGrant('shared.read')), 'child shared');
  await ok204(await call('POST', `/role/${parent.roleId}/privilege:grant`, galaxyGrant('b.write', { grantKind: 'Deny' })), 'parent');
  await ok204(await call('POST', `/role/${parent.roleId}/privilege:grant`, galaxyGrant('shared.read')), 'parent shared');
  const name = (x) => `${x.grantKind} ${x.privilege}${x.grantOption ? '+' : ''}`;
  assert.deepEqual((await privileges(parent.roleId)).map(name), ['Deny b.write', 'Allow shared.read']);
  assert.deepEqual((await privileges(parent.roleId, '&listAllPrivileges=false')).map(name), ['Deny b.write', 'Allow shared.read']);
  const all = await privileges(parent.roleId, '&listAllPrivileges=true');
  assert.deepEqual(all.map(name), ['Allow a.read', 'Deny b.write', 'Allow deep.read+', 'Allow shared.read'],
    'the closure\'s privileges, identical ones once, by name');
  for (const x of all) assert.equal(x.entityId, account);
  const pages = [];
  for (let tok = null; tok !== '' && pages.length < 5;) {
    const q = `?listAllPrivileges=true&pageSize=3${tok ? `&pageToken=${encodeURIComponent(tok)}` : ''}`;
    const pg = await call('GET', `/role/${parent.roleId}/privilege${q}`);
    assert.equal(pg.status, 200, pg.text);
    pages.push(pg.json);
    tok = pg.json.nextPageToken;
  }
  assert.deepEqual(pages.map((pg) => pg.result.length), [3, 1]);
  assert.deepEqual(pages.flatMap((pg) => pg.result), all);
  h.assertApiError(await call('GET', `/role/${parent.roleId}/privilege?listAllPrivileges=yes`), 400, 'INVALID_ARGUMENT', 'listAllPrivileges=yes');
});

test('grant option honoured: with it a role grants the privilege on (to any role); without, 403', async () => {
  const delegate = await createRole('galaxy_delegate');
  const senior = await createRole('galaxy_senior', { directlyGrantedRoles: [{ roleId: delegate.roleId }] });
  const target = await createRole('galaxy_target');
  const other = await createRole('galaxy_other');
  await ok204(await call('POST', `/role/${delegate.roleId}/privilege:grant`, galaxyGrant('orders.read', { grantOption: true })), 'with grant option');
  await ok204(await call('POST', `/role/${delegate.roleId}/privilege:grant`, galaxyGrant('orders.write')), 'without');
  const dt = await cliToken(delegate.roleName);
  const st = await cliToken(senior.roleName);
  const tp = `/role/${target.roleId}/privilege`;

  // With the grant option: to a role outside the caller's set, with or without grant option on.
  await ok204(await call('POST', `${tp}:grant`, galaxyGrant('orders.read'), dt), 'delegate grants orders.read');
  await ok204(await call('POST', `${tp}:grant`, galaxyGrant('orders.read', { grantOption: true }), dt), 'and with grant option');
  await ok204(await call('POST', `${tp}:grant`, { grantKind: 'Allow', privilege: 'orders.read' }, dt), 'the older body too');
  await ok204(await call('POST', `/role/${other.roleId}/privilege:grant`, galaxyGrant('orders.read'), st), 'inherited through a granted role');
  assert.deepEqual((await privileges(target.roleId)).map((x) => [x.privilege, x.grantOption]), [['orders.read', true]]);
  // ... and the target's holders may then grant it on in turn.
  const tt = await cliToken(target.roleName);
  const third = await createRole('galaxy_third');
  await ok204(await call('POST', `/role/${third.roleId}/privilege:grant`, galaxyGrant('orders.read'), tt), 'granted on again');

  // Without it: 403 naming what is missing.
  const noOption = await call('POST', `${tp}:grant`, galaxyGrant('orders.write'), dt);
  h.assertApiError(noOption, 403, 'PERMISSION_DENIED', 'orders.write has no grant option');
  assert.match(noOption.json.message, /ManageSecurity/);
  assert.match(noOption.json.message, /grant option/);
  h.assertApiError(await call('POST', `${tp}:grant`, galaxyGrant('ManageSecurity'), dt), 403, 'PERMISSION_DENIED', 'ManageSecurity');
  const deny = await call('POST', `${tp}:grant`, galaxyGrant('orders.read', { grantKind: 'Deny' }), dt);
  h.assertApiError(deny, 403, 'PERMISSION_DENIED', 'a Deny needs ManageSecurity');
  assert.match(deny.json.message, /Deny/);
  await ok204(await call('POST', `/role/${other.roleId}/privilege:grant`, galaxyGrant('orders.read', { grantKind: 'Deny' })), 'admin denies it to other');
  const over = await call('POST', `/role/${other.roleId}/privilege:grant`, galaxyGrant('orders.read'), dt);
  h.assertApiError(over, 403, 'PERMISSION_DENIED', 'not over a Deny the role holds');
  assert.match(over.json.message, /Deny/);
  h.assertApiError(await call('POST', `${tp}:revoke`, galaxyRevoke('orders.read'), dt), 403, 'PERMISSION_DENIED', 'revoking needs ManageSecurity');
  h.assertApiError(await call('GET', tp, undefined, dt), 403, 'PERMISSION_DENIED', 'listing needs ManageSecurity');
  h.assertApiError(await call('POST', `/role/${(await call('GET', '/role/name=accountadmin')).json.roleId}/privilege:grant`, galaxyGrant('orders.read'), dt),
    400, 'FAILED_PRECONDITION', 'not to accountadmin');
  // A caller holding no grant option at all is refused before its body is read.
  const none = await createRole('galaxy_none');
  const nt = await cliToken(none.roleName);
  h.assertApiError(await call('POST', `${tp}:grant`, {}, nt), 403, 'PERMISSION_DENIED', 'no grant option, empty body');

  // The option taken away: the delegate can no longer grant it on; what it granted stays.
  await ok204(await call('POST', `/role/${delegate.roleId}/privilege:revoke`, galaxyRevoke('orders.read', 'RevokeGrantOption')), 'RevokeGrantOption');
  h.assertApiError(await call('POST', `/role/${third.roleId}/privilege:grant`, galaxyGrant('orders.read'), dt), 403, 'PERMISSION_DENIED', 'after RevokeGrantOption');
  assert.equal((await privileges(delegate.roleId)).find((x) => x.privilege === 'orders.read').grantOption, false);
  // A Deny in the caller's set takes the grant option away with the privilege.
  await ok204(await call('POST', `/role/${delegate.roleId}/privilege:grant`, galaxyGrant('orders.read', { grantOption: true })), 'option back');
  await ok204(await call('POST', `/role/${senior.roleId}/privilege:grant`, galaxyGrant('orders.read', { grantKind: 'Deny' })), 'senior denies it');
  h.assertApiError(await call('POST', `/role/${third.roleId}/privilege:grant`, galaxyGrant('orders.read'), st), 403, 'PERMISSION_DENIED', 'denied in the set');
  await ok204(await call('POST', `/role/${third.roleId}/privilege:grant`, galaxyGrant('orders.read'), dt), 'the delegate alone still may');

  // The refusals are in the audit log.
  const log = (await call('GET', '/auditLog?pageSize=100')).json.result;
  assert.ok(log.some((e) => e.action === 'privilege.grant' && e.outcome === 'PERMISSION_DENIED' && e.target === target.roleId));
});

test('ManageSecurity still grants any privilege within its own set, and not beyond it', async () => {
  const sec = await createRole('galaxy_sec');
  const below = await createRole('galaxy_below');
  await call('PATCH', `/role/${sec.roleId}`, { directlyGrantedRoles: [{ roleId: below.roleId }] });
  const outside = await createRole('galaxy_outside');
  await ok204(await call('POST', `/role/${sec.roleId}/privilege:grant`, galaxyGrant('ManageSecurity')), 'ManageSecurity');
  const t = await cliToken(sec.roleName);
  await ok204(await call('POST', `/role/${below.roleId}/privilege:grant`, galaxyGrant('anything.at_all', { grantOption: true }), t), 'within its set');
  await ok204(await call('POST', `/role/${below.roleId}/privilege:grant`, galaxyGrant('denied.thing', { grantKind: 'Deny' }), t), 'a Deny');
  await ok204(await call('POST', `/role/${below.roleId}/privilege:revoke`, galaxyRevoke('denied.thing'), t), 'and revokes');
  h.assertApiError(await call('POST', `/role/${outside.roleId}/privilege:grant`, galaxyGrant('other.thing'), t), 403, 'PERMISSION_DENIED', 'outside its set');
  // ... unless its set holds the privilege with grant option (below's, granted above).
  await ok204(await call('POST', `/role/${outside.roleId}/privilege:grant`, galaxyGrant('anything.at_all'), t), 'by the grant option');
});

test('CLI: grant-privilege --grant-option, revoke-privilege --grant-option and without a kind', async () => {
  const r = await createRole('galaxy_cli');
  const g = h.cli(srv.db, ['role', 'grant-privilege', r.roleName, 'orders.read', '--grant-option']);
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /galaxy_cli: Allow orders\.read with grant option/);
  assert.equal(h.cli(srv.db, ['role', 'grant-privilege', r.roleName, 'orders.write', '--deny']).status, 0);
  const bad = h.cli(srv.db, ['role', 'grant-privilege', r.roleName, 'x.read', '--deny', '--grant-option']);
  assert.equal(bad.status, 1, 'a Deny with grant option is refused');
  assert.match(bad.stderr, /grantOption/);
  const name = (x) => `${x.grantKind} ${x.privilege}${x.grantOption ? '+' : ''}`;
  assert.deepEqual((await privileges(r.roleId)).map(name), ['Allow orders.read+', 'Deny orders.write']);
  const ro = h.cli(srv.db, ['role', 'revoke-privilege', r.roleName, 'orders.read', '--grant-option']);
  assert.equal(ro.status, 0, ro.stderr);
  assert.match(ro.stdout, /grant option revoked/);
  const rd = h.cli(srv.db, ['role', 'revoke-privilege', r.roleName, 'orders.write']);
  assert.equal(rd.status, 0, rd.stderr);
  assert.match(rd.stdout, /orders\.write revoked/);
  assert.deepEqual((await privileges(r.roleId)).map(name), ['Allow orders.read']);
  const again = h.cli(srv.db, ['role', 'revoke-privilege', r.roleName, 'orders.read', '--deny']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /was not granted/, 'an Allow is not revoked by --deny');
});

test('the account ID is kept in the database: the same after a restart', async () => {
  await srv.stop();
  srv = await h.startServer({ dir });
  boot = await h.bootstrap(srv, 'boot2');
  const a = await call('GET', '/account');
  assert.equal(a.status, 200, a.text);
  assert.equal(a.json.accountId, account);
});
