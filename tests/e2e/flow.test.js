'use strict';
// The main story of issue 2: bootstrap token via the CLI → exchange → API call allowed by role →
// denied by role (403) → allowed after a grant → denied again by a Deny (deny wins) → revoke →
// exchange refused (401) and the earlier access token refused → list shows Revoked and a
// lastAccessOn.  Then: escalation refused, CLI revoke propagates within 1 s, the secret is shown
// once, expiresOn, the access-token TTL, and no secret or access token in the server's log.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers.js');

const { V1, api, exchange, tokenRequest } = h;

let srv; // main server (debug logging, so a leak into the log has every chance to show)
let srv2; // the main server restarted on the same database
let ttlSrv; // second server with --access-token-ttl 10
let ttlAccess; // an access token from ttlSrv, checked for expiry at the end
const seen = { secrets: new Set(), access: new Set() };
const S = {}; // state shared along the story

function remember(obj) {
  if (obj && obj.clientSecret) seen.secrets.add(obj.clientSecret);
  if (obj && obj.access_token) seen.access.add(obj.access_token);
  return obj;
}

async function exchangeOk(base, id, secret) {
  const r = await exchange(base, id, secret);
  assert.equal(r.status, 200, `exchange for ${id}: expected 200, got ${r.status} ${r.text}`);
  remember(r.json);
  return r.json.access_token;
}

async function createRole(token, roleName, extra = {}) {
  const r = await api(srv.base, 'POST', `${V1}/role`, { token, body: { grantToCreatingRole: true, roleName, roleDescription: `${roleName} role`, ...extra } });
  assert.equal(r.status, 200, `POST /role ${roleName}: ${r.status} ${r.text}`);
  return r.json;
}

async function grant(token, roleId, grantKind, privilege) {
  const r = await api(srv.base, 'POST', `${V1}/role/${roleId}/privilege:grant`, { token, body: { grantKind, privilege } });
  assert.equal(r.status, 204, `privilege:grant ${grantKind} ${privilege} on ${roleId}: ${r.status} ${r.text}`);
  assert.equal(r.text, '', '204 has no body');
}

async function createToken(token, body, expectStatus = 201) {
  const r = await api(srv.base, 'POST', `${V1}/apiToken`, { token, body });
  if (r.json) remember(r.json);
  assert.equal(r.status, expectStatus, `POST /apiToken ${JSON.stringify(body)}: ${r.status} ${r.text}`);
  return r;
}

/* A token created by the CLI (the operator may hand out any role), plus its access token. */
async function cliToken(roleName, description) {
  const t = h.cliJson(srv.db, ['token', 'create', '--role', roleName, '--description', description, '--json']);
  remember(t);
  const r = await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret);
  assert.equal(r.status, 200, `exchange for CLI-created ${t.clientId} within 2 s: ${r.status} ${r.text}`);
  remember(r.json);
  return { ...t, access: r.json.access_token };
}

before(async () => {
  srv = await h.startServer({ args: ['--log-level', 'debug'], keepDir: true });
  ttlSrv = await h.startServer({ args: ['--access-token-ttl', '10'] });
});

after(async () => {
  await Promise.allSettled([srv && srv.stop(), srv2 && srv2.stop(), ttlSrv && ttlSrv.stop()]);
  if (srv) fs.rmSync(srv.dir, { recursive: true, force: true });
});

test('first start on an empty database makes admin@localhost; its password is in a file, not the output', () => {
  assert.match(srv.stderr, /created user admin@localhost/, `the log should name admin@localhost:\n${srv.stderr}`);
  S.adminPassword = h.adminPassword(srv);
  assert.ok(S.adminPassword.length >= 12, `generated password looks short: ${S.adminPassword}`);
  assert.ok(!srv.stderr.includes(S.adminPassword), 'the admin password must not be logged on stderr');
  assert.ok(!srv.stdout.includes(S.adminPassword), 'the admin password must not be written to stdout (not a terminal)');
});

test('access-token TTL: --access-token-ttl 10 gives expires_in 10 and exp - iat = 10', async () => {
  const boot = h.cliJson(ttlSrv.db, ['token', 'create', '--role', 'accountadmin', '--description', 'ttl', '--json']);
  remember(boot);
  const r = await h.exchangeCliToken(ttlSrv.base, boot.clientId, boot.clientSecret);
  assert.equal(r.status, 200, `exchange: ${r.status} ${r.text}`);
  remember(r.json);
  assert.equal(r.json.expires_in, 10, 'expires_in with --access-token-ttl 10');
  const { payload } = h.decodeJwt(r.json.access_token);
  assert.equal(payload.exp - payload.iat, 10, `exp - iat: ${JSON.stringify(payload)}`);
  assert.equal(payload.iss, ttlSrv.base, 'iss defaults to http://127.0.0.1:PORT');
  ttlAccess = { token: r.json.access_token, exp: payload.exp };
  const ok = await api(ttlSrv.base, 'GET', `${V1}/apiToken`, { token: ttlAccess.token });
  assert.equal(ok.status, 200, `fresh access token works: ${ok.status} ${ok.text}`);
  // Another server (other key, other issuer) does not accept it.
  h.assertUnauthenticated(await api(srv.base, 'GET', `${V1}/apiToken`, { token: ttlAccess.token }), 'access token from another server');
});

test('CLI bootstrap: token create --json prints the documented object', () => {
  const t = h.cliJson(srv.db, ['token', 'create', '--role', 'accountadmin', '--description', 'boot', '--json']);
  remember(t);
  assert.deepEqual(Object.keys(t).sort(), ['allowedCidrs', 'clientId', 'clientSecret', 'createdBy', 'createdOn', 'description',
    'expiresOn', 'lastAccessOn', 'rateLimit', 'revokedOn', 'roleId', 'roleName', 'secretCount', 'secretsExpireOn', 'status'].sort(),
  `keys of ${JSON.stringify(t)}`);
  h.assertTokenShape(t, { withSecret: true });
  assert.equal(t.description, 'boot');
  assert.equal(t.roleName, 'accountadmin');
  assert.equal(t.status, 'Active');
  assert.equal(t.createdBy, 'cli');
  assert.equal(t.lastAccessOn, null);
  assert.equal(t.revokedOn, null);
  assert.equal(t.expiresOn, null);
  assert.equal(t.rateLimit, null, 'no rate limit of its own');
  assert.deepEqual(t.allowedCidrs, [], 'usable from any address');
  assert.ok(Math.abs(Date.parse(t.createdOn) - Date.now()) < 60000, `createdOn is now-ish: ${t.createdOn}`);
  S.boot = t;
});

test('secret format: kgs_ + 38 base62, the last 6 a base62 CRC-32 of the first 36', () => {
  const s = S.boot.clientSecret;
  assert.match(s, h.SECRET_RE);
  assert.equal(s.slice(36), h.base62Crc(s.slice(0, 36)), `checksum of ${s}`);
  // A one-character change breaks the checksum (what an offline scanner relies on).
  const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
  assert.equal(h.secretChecksumOk(flipped), false, 'a changed secret must fail the checksum');
  // Sanity of the checker itself: the CRC-32 IEEE check value.
  assert.equal(h.crc32('123456789'), 0xcbf43926);
});

test('exchange with HTTP Basic: 200, Bearer, expires_in 600, no scope, Cache-Control no-store', async () => {
  // The server learns of the CLI-created token within 1 s.
  const r = await h.exchangeCliToken(srv.base, S.boot.clientId, S.boot.clientSecret, 1500);
  assert.equal(r.status, 200, `exchange: ${r.status} ${r.text}`);
  remember(r.json);
  // no "scope": keygate grants none, and an empty one makes some clients refuse the answer
  assert.deepEqual(Object.keys(r.json).sort(), ['access_token', 'expires_in', 'secret_id', 'token_type']);
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(r.json.expires_in, 600);
  assert.match(r.json.secret_id, /^s-\d{10}$/, 'secret_id names the secret used (issue 18)');
  S.bootSecretId = r.json.secret_id;
  assert.match(r.headers.get('cache-control') || '', /no-store/, 'Cache-Control: no-store on the token response');
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  S.bootAccess = r.json.access_token;
});

test('the access token is an EdDSA at+jwt with iss, sub, client_id, aud, iat, exp, jti, role, secret_id', () => {
  const { header, payload } = h.decodeJwt(S.bootAccess);
  assert.equal(header.alg, 'EdDSA');
  assert.equal(header.typ, 'at+jwt');
  assert.equal(typeof header.kid, 'string');
  assert.ok(header.kid.length > 0, 'kid is not empty');
  assert.equal(payload.iss, srv.base, 'iss defaults to http://127.0.0.1:PORT');
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  assert.ok(aud.includes(srv.base), `aud defaults to the issuer: ${JSON.stringify(payload.aud)}`);
  assert.equal(payload.sub, S.boot.clientId);
  assert.equal(payload.client_id, S.boot.clientId);
  assert.equal(payload.role, 'accountadmin');
  assert.equal(payload.secret_id, S.bootSecretId, 'secret_id: the secret it was issued for');
  assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp), 'iat and exp are integers');
  assert.equal(payload.exp - payload.iat, 600);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 60, `iat is now: ${payload.iat}`);
  assert.equal(typeof payload.jti, 'string');
  assert.ok(payload.jti.length >= 8, `jti: ${payload.jti}`);
});

test('two exchanges give distinct jti', async () => {
  const a = h.decodeJwt(await exchangeOk(srv.base, S.boot.clientId, S.boot.clientSecret)).payload;
  const b = h.decodeJwt(await exchangeOk(srv.base, S.boot.clientId, S.boot.clientSecret)).payload;
  assert.notEqual(a.jti, b.jti);
});

test('the JWT signature verifies with the server\'s Ed25519 key (signing.key seed beside the db)', (t) => {
  const keyFile = path.join(srv.dir, 'signing.key');
  if (!fs.existsSync(keyFile) || fs.statSync(keyFile).size !== 32) {
    t.skip('no 32-byte signing.key seed beside the database; layout differs');
    return;
  }
  const seed = fs.readFileSync(keyFile);
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const priv = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const pub = crypto.createPublicKey(priv);
  const [hd, pl, sig] = S.bootAccess.split('.');
  const ok = crypto.verify(null, Buffer.from(`${hd}.${pl}`), pub, Buffer.from(sig, 'base64url'));
  assert.ok(ok, 'EdDSA signature over header.payload verifies');
  // Key files are private (issue: "mode 0600").
  for (const f of fs.readdirSync(srv.dir)) {
    if (f.startsWith('keygate.db')) continue;
    const mode = fs.statSync(path.join(srv.dir, f)).mode & 0o777;
    assert.equal(mode & 0o077, 0, `${f} should be mode 0600, is ${mode.toString(8)}`);
  }
});

test('exchange with client_secret_post (client_id & client_secret in the body) also works', async () => {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: S.boot.clientId, client_secret: S.boot.clientSecret });
  const r = await tokenRequest(srv.base, form.toString());
  assert.equal(r.status, 200, `client_secret_post: ${r.status} ${r.text}`);
  remember(r.json);
  assert.equal(h.decodeJwt(r.json.access_token).payload.sub, S.boot.clientId);
});

test('token endpoint errors: wrong secret, unknown client, missing credentials, grant types', async () => {
  const b = S.boot;
  const wrong = b.clientSecret.slice(0, -1) + (b.clientSecret.endsWith('A') ? 'B' : 'A');
  h.assertOAuthError(await exchange(srv.base, b.clientId, wrong), 401, 'invalid_client', 'wrong secret');
  h.assertOAuthError(await exchange(srv.base, 'kgc_AAAAAAAAAAAAAAAA', b.clientSecret), 401, 'invalid_client', 'unknown client');
  h.assertOAuthError(await tokenRequest(srv.base, 'grant_type=client_credentials'), 401, 'invalid_client', 'no credentials');
  h.assertOAuthError(await tokenRequest(srv.base, 'grant_type=password', { Authorization: h.basic(b.clientId, b.clientSecret) }),
    400, 'unsupported_grant_type', 'grant_type=password');
  h.assertOAuthError(await tokenRequest(srv.base, '', { Authorization: h.basic(b.clientId, b.clientSecret) }),
    400, 'invalid_request', 'missing grant_type');
  h.assertOAuthError(await tokenRequest(srv.base, 'grant_type=client_credentials', {
    Authorization: h.basic(b.clientId, b.clientSecret), 'Content-Type': 'application/json',
  }), 400, 'invalid_request', 'JSON content type');
  h.assertOAuthError(await tokenRequest(srv.base, `grant_type=client_credentials&client_id=${b.clientId}&client_secret=${b.clientSecret}`,
    { Authorization: h.basic(b.clientId, b.clientSecret) }), 400, 'invalid_request', 'Basic and body credentials');
  h.assertOAuthError(await tokenRequest(srv.base, 'grant_type=client_credentials&grant_type=client_credentials',
    { Authorization: h.basic(b.clientId, b.clientSecret) }), 400, 'invalid_request', 'repeated grant_type');
});

test('API call allowed by role: accountadmin lists tokens, no clientSecret, lastAccessOn set by the exchange', async () => {
  const r = await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.bootAccess });
  assert.equal(r.status, 200, `GET /apiToken: ${r.status} ${r.text}`);
  assert.deepEqual(Object.keys(r.json).sort(), ['nextPageToken', 'result']);
  assert.equal(r.json.nextPageToken, '');
  assert.ok(Array.isArray(r.json.result));
  for (const t of r.json.result) h.assertTokenShape(t);
  const me = r.json.result.find((t) => t.clientId === S.boot.clientId);
  assert.ok(me, 'the bootstrap token is listed');
  assert.notEqual(me.lastAccessOn, null, 'the exchange set lastAccessOn, visible at once through the API');
  assert.ok(!r.text.includes(S.boot.clientSecret), 'the list never shows a secret');
  const aa = await api(srv.base, 'GET', `${V1}/role/name=accountadmin`, { token: S.bootAccess });
  assert.equal(aa.status, 200, `GET /role/name=accountadmin: ${aa.status} ${aa.text}`);
  const pub = await api(srv.base, 'GET', `${V1}/role/name=public`, { token: S.bootAccess });
  assert.equal(pub.status, 200, `GET /role/name=public: ${pub.status} ${pub.text}`);
  S.aaRoleId = aa.json.roleId;
  S.publicRoleId = pub.json.roleId;
});

test('a role with no privileges: its token gets 403 on GET /apiToken', async () => {
  S.reader = await createRole(S.bootAccess, 'reader');
  assert.match(S.reader.roleId, h.ROLE_ID_RE);
  assert.equal(S.reader.roleName, 'reader');
  assert.deepEqual(S.reader.directlyGrantedRoles, []);
  // accountadmin hands out the new role through the API.
  const r = await api(srv.base, 'POST', `${V1}/apiToken`, { token: S.bootAccess, body: { description: 'reader token', roleId: S.reader.roleId } });
  remember(r.json);
  if (r.status !== 201) {
    // Keep the rest of the story meaningful: make the token through the CLI, then fail here.
    const t = await cliToken('reader', 'reader token');
    S.readerTok = t;
    S.readerAccess = t.access;
  }
  assert.equal(r.status, 201, `accountadmin creates a token for role reader via POST /apiToken: ${r.status} ${r.text}`);
  h.assertTokenShape(r.json, { withSecret: true });
  assert.equal(r.json.status, 'Active');
  assert.equal(r.json.roleId, S.reader.roleId);
  assert.equal(r.json.roleName, 'reader');
  assert.equal(r.json.description, 'reader token');
  assert.equal(r.json.lastAccessOn, null, 'a new token has not been used');
  assert.ok(r.json.createdBy && r.json.createdBy !== 'cli', `createdBy names the creating token, got ${r.json.createdBy}`);
  S.readerTok = r.json;
  S.readerAccess = await exchangeOk(srv.base, S.readerTok.clientId, S.readerTok.clientSecret);
  assert.equal(h.decodeJwt(S.readerAccess).payload.role, 'reader');
  const denied = await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.readerAccess });
  h.assertApiError(denied, 403, 'PERMISSION_DENIED', 'reader lists tokens');
});

test('after granting ManageSecurity to the role, the same access token gets 200', async () => {
  await grant(S.bootAccess, S.reader.roleId, 'Allow', 'ManageSecurity');
  const privs = await api(srv.base, 'GET', `${V1}/role/${S.reader.roleId}/privilege`, { token: S.bootAccess });
  assert.equal(privs.status, 200, privs.text);
  S.accountId = (await api(srv.base, 'GET', `${V1}/account`, { token: S.bootAccess })).json.accountId;
  assert.deepEqual(privs.json.result,
    [{ grantKind: 'Allow', entityKind: 'Account', entityId: S.accountId, grantOption: false, privilege: 'ManageSecurity' }]);
  assert.equal(privs.json.nextPageToken, '');
  const r = await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.readerAccess });
  assert.equal(r.status, 200, `reader with ManageSecurity lists tokens: ${r.status} ${r.text}`);
});

test('a Deny ManageSecurity in a role granted to it wins over the Allow (403)', async () => {
  S.denyRole = await createRole(S.bootAccess, 'no_security');
  await grant(S.bootAccess, S.denyRole.roleId, 'Deny', 'ManageSecurity');
  const p = await api(srv.base, 'PATCH', `${V1}/role/${S.reader.roleId}`, {
    token: S.bootAccess, body: { directlyGrantedRoles: [{ roleId: S.denyRole.roleId }] },
  });
  if (p.status !== 200) {
    // Check deny-wins anyway (grant through the CLI; the server sees it within 1 s), then fail.
    const g = h.cli(srv.db, ['role', 'grant-role', 'reader', 'no_security']);
    assert.equal(g.status, 0, `role grant-role reader no_security: ${g.stderr}`);
    const w = await h.waitFor(async () => (await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.readerAccess })).status === 403, 1500, 50);
    assert.ok(w.ok, 'Deny (granted via the CLI) beats Allow within 1.5 s');
  }
  assert.equal(p.status, 200, `accountadmin PATCHes reader to grant no_security: ${p.status} ${p.text}`);
  assert.deepEqual(h.refs(p.json.directlyGrantedRoles), [{ roleId: S.denyRole.roleId, roleName: 'no_security' }]);
  const r = await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.readerAccess });
  h.assertApiError(r, 403, 'PERMISSION_DENIED', 'Deny in the active role set beats Allow');
  // Taking the granted role away restores the Allow.
  const back = await api(srv.base, 'PATCH', `${V1}/role/${S.reader.roleId}`, {
    token: S.bootAccess, body: { directlyGrantedRoles: [] },
  });
  assert.equal(back.status, 200, `PATCH reader grants nothing: ${back.status} ${back.text}`);
  assert.deepEqual(back.json.directlyGrantedRoles, []);
  const again = await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.readerAccess });
  assert.equal(again.status, 200, `without the Deny role, 200 again: ${again.status} ${again.text}`);
});

test('public is in every active role set: an Allow granted to public reaches a role without privileges', async () => {
  const empty = await createRole(S.bootAccess, 'empty');
  const t = await cliToken('empty', 'empty');
  const acc = t.access;
  h.assertApiError(await api(srv.base, 'GET', `${V1}/role`, { token: acc }), 403, 'PERMISSION_DENIED', 'role without privileges');
  const pub = await api(srv.base, 'GET', `${V1}/role/name=public`, { token: S.bootAccess });
  assert.equal(pub.status, 200, pub.text);
  await grant(S.bootAccess, pub.json.roleId, 'Allow', 'ManageSecurity');
  let during;
  try {
    during = await api(srv.base, 'GET', `${V1}/role`, { token: acc });
  } finally {
    const rv = await api(srv.base, 'POST', `${V1}/role/${pub.json.roleId}/privilege:revoke`, {
      token: S.bootAccess, body: { grantKind: 'Allow', privilege: 'ManageSecurity' },
    });
    assert.equal(rv.status, 204, `privilege:revoke on public: ${rv.status} ${rv.text}`);
  }
  assert.equal(during.status, 200, `Allow on public applies to every role: ${during.status} ${during.text}`);
  h.assertApiError(await api(srv.base, 'GET', `${V1}/role`, { token: acc }), 403, 'PERMISSION_DENIED',
    'after privilege:revoke on public');
  const rv = await api(srv.base, 'POST', `${V1}/apiToken/${t.clientId}:revoke`, { token: S.bootAccess });
  assert.equal(rv.status, 200, rv.text);
});

test('revoke via the API: 200 Revoked; the exchange is refused and the earlier access token gets 401', async () => {
  const id = S.readerTok.clientId;
  const r = await api(srv.base, 'POST', `${V1}/apiToken/${id}:revoke`, { token: S.bootAccess });
  assert.equal(r.status, 200, `revoke: ${r.status} ${r.text}`);
  h.assertTokenShape(r.json);
  assert.equal(r.json.status, 'Revoked');
  assert.match(r.json.revokedOn || '', h.TIME_RE, 'revokedOn is set');
  S.revokedOn = r.json.revokedOn;

  h.assertOAuthError(await exchange(srv.base, id, S.readerTok.clientSecret), 401, 'invalid_client', 'exchange after revoke');
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: S.readerTok.clientSecret });
  h.assertOAuthError(await tokenRequest(srv.base, form.toString()), 401, 'invalid_client', 'client_secret_post after revoke');
  h.assertUnauthenticated(await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.readerAccess }), 'earlier access token after revoke');
});

test('revoke is idempotent: a second revoke is 200 with the same revokedOn', async () => {
  const r = await api(srv.base, 'POST', `${V1}/apiToken/${S.readerTok.clientId}:revoke`, { token: S.bootAccess });
  assert.equal(r.status, 200, `second revoke: ${r.status} ${r.text}`);
  assert.equal(r.json.status, 'Revoked');
  assert.equal(r.json.revokedOn, S.revokedOn, 'revokedOn unchanged');
  const unknown = await api(srv.base, 'POST', `${V1}/apiToken/kgc_0000000000000000:revoke`, { token: S.bootAccess });
  h.assertApiError(unknown, 404, 'NOT_FOUND', 'revoke an unknown clientId');
});

test('the list shows the revoked token as Revoked with a non-null lastAccessOn (API and CLI)', async () => {
  const r = await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.bootAccess });
  assert.equal(r.status, 200, r.text);
  const t = r.json.result.find((x) => x.clientId === S.readerTok.clientId);
  assert.ok(t, 'revoked token still listed');
  assert.equal(t.status, 'Revoked');
  assert.equal(t.revokedOn, S.revokedOn);
  assert.notEqual(t.lastAccessOn, null, 'lastAccessOn is set by the exchange and the API calls');
  assert.ok(Date.parse(t.lastAccessOn) <= Date.parse(t.revokedOn), 'last use came before the revoke');

  const one = await api(srv.base, 'GET', `${V1}/apiToken/${S.readerTok.clientId}`, { token: S.bootAccess });
  assert.equal(one.status, 200, one.text);
  assert.equal(one.json.status, 'Revoked');
  assert.notEqual(one.json.lastAccessOn, null);

  // The CLI reads the database; lastAccessOn is flushed there within ~2 s.
  const w = await h.waitFor(() => {
    const list = h.cliJson(srv.db, ['token', 'list', '--json']);
    assert.ok(Array.isArray(list), 'token list --json prints an array');
    const c = list.find((x) => x.clientId === S.readerTok.clientId);
    return c && c.status === 'Revoked' && c.lastAccessOn !== null ? c : null;
  }, 3000, 200);
  assert.ok(w.ok, `CLI token list shows Revoked with lastAccessOn within 3 s: ${JSON.stringify(w.value)}`);
  assert.equal(w.value.clientSecret, undefined, 'CLI list never shows a secret');
});

test('lastAccessOn: null until used, then set by an exchange and advanced by a later API call', async () => {
  const r = await createToken(S.bootAccess, { description: 'usage', roleId: S.aaRoleId });
  const id = r.json.clientId;
  const get = async () => {
    const g = await api(srv.base, 'GET', `${V1}/apiToken/${id}`, { token: S.bootAccess });
    assert.equal(g.status, 200, g.text);
    return g.json.lastAccessOn;
  };
  assert.equal(await get(), null, 'unused token');
  const acc = await exchangeOk(srv.base, id, r.json.clientSecret);
  const afterExchange = await get();
  assert.notEqual(afterExchange, null, 'the exchange set lastAccessOn, visible at once via the API');
  // The server may coalesce touches (the issue allows "to within a few seconds"); 1.1 s apart
  // is past any sub-second coalescing.
  await h.sleep(1100);
  const call = await api(srv.base, 'GET', `${V1}/role`, { token: acc });
  assert.equal(call.status, 200, call.text);
  const afterCall = await get();
  assert.ok(Date.parse(afterCall) > Date.parse(afterExchange),
    `an API call advances lastAccessOn: ${afterExchange} -> ${afterCall}`);
  // The list overlays the same in-memory value.
  const list = await api(srv.base, 'GET', `${V1}/apiToken`, { token: S.bootAccess });
  assert.equal(list.json.result.find((x) => x.clientId === id).lastAccessOn, afterCall);
});

test('no escalation: a ManageSecurity token without accountadmin cannot create an accountadmin token (403)', async () => {
  const sec = await createRole(S.bootAccess, 'secadmin');
  await grant(S.bootAccess, sec.roleId, 'Allow', 'ManageSecurity');
  const other = await createRole(S.bootAccess, 'other');
  const t = await cliToken('secadmin', 'secadmin');
  const acc = t.access;
  const aa = await api(srv.base, 'GET', `${V1}/role/name=accountadmin`, { token: acc });
  assert.equal(aa.status, 200, aa.text);
  const countBefore = (await h.listAll(srv.base, S.bootAccess, `${V1}/apiToken`)).flatMap((p) => p.result).length;

  const esc = await createToken(acc, { description: 'escalate', roleId: aa.json.roleId }, 403);
  h.assertApiError(esc, 403, 'PERMISSION_DENIED', 'token for accountadmin by a secadmin token');
  assert.equal(esc.json.clientSecret, undefined);
  const side = await createToken(acc, { description: 'sideways', roleId: other.roleId }, 403);
  h.assertApiError(side, 403, 'PERMISSION_DENIED', 'token for a role outside the active set');

  // Its own role and public are in its active role set.
  const own = await createToken(acc, { description: 'own role', roleId: sec.roleId });
  assert.equal(own.json.roleName, 'secadmin');
  assert.equal(own.json.createdBy, t.clientId, 'createdBy is the creating token\'s clientId');
  const pub = await api(srv.base, 'GET', `${V1}/role/name=public`, { token: acc });
  await createToken(acc, { description: 'public role', roleId: pub.json.roleId });

  const afterCount = (await h.listAll(srv.base, S.bootAccess, `${V1}/apiToken`)).flatMap((p) => p.result).length;
  assert.equal(afterCount, countBefore + 2, 'the refused creations stored nothing');

  // Nor through role-to-role grants or users: accountadmin is outside secadmin's active set.
  h.assertApiError(await api(srv.base, 'PATCH', `${V1}/role/${sec.roleId}`, {
    token: acc, body: { directlyGrantedRoles: [{ roleId: aa.json.roleId }] },
  }), 403, 'PERMISSION_DENIED', 'secadmin grants accountadmin to its own role');
  h.assertApiError(await api(srv.base, 'POST', `${V1}/role`, {
    token: acc, body: { grantToCreatingRole: true, roleName: 'sneaky', directlyGrantedRoles: [{ roleId: aa.json.roleId }] },
  }), 403, 'PERMISSION_DENIED', 'secadmin creates a role granted accountadmin');
  h.assertApiError(await api(srv.base, 'POST', `${V1}/user`, {
    token: acc, body: { email: 'sneaky@example.com', directlyGrantedRoles: [{ roleId: aa.json.roleId }] },
  }), 403, 'PERMISSION_DENIED', 'secadmin creates an accountadmin user');
  const g = await api(srv.base, 'GET', `${V1}/role/${sec.roleId}`, { token: S.bootAccess });
  assert.deepEqual(g.json.directlyGrantedRoles, [], 'secadmin still holds nothing more');
  assert.equal((await api(srv.base, 'GET', `${V1}/role/name=sneaky`, { token: S.bootAccess })).status, 404, 'no role "sneaky"');
  assert.equal((await api(srv.base, 'GET', `${V1}/user/email=sneaky@example.com`, { token: S.bootAccess })).status, 404, 'no user "sneaky"');
  // Still refused after all that: its access token cannot reach accountadmin.
  await createToken(acc, { description: 'escalate again', roleId: aa.json.roleId }, 403);
});

test('CLI revoke takes effect on the running server within 1 s', async () => {
  const t = h.cliJson(srv.db, ['token', 'create', '--role', 'accountadmin', '--description', 'cli-revoke', '--json']);
  remember(t);
  // The server picks up the CLI-created token within 1 s (bounded wait, with slack).
  const up = await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret, 1500);
  assert.equal(up.status, 200, `a CLI-created token can be exchanged within 1.5 s: ${up.status} ${up.text}`);
  remember(up.json);
  const acc = up.json.access_token;
  const ok = await api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}`, { token: acc });
  assert.equal(ok.status, 200, ok.text);

  const rv = h.cli(srv.db, ['token', 'revoke', t.clientId]);
  assert.equal(rv.status, 0, `token revoke exited ${rv.status}: ${rv.stderr}`);
  const start = Date.now();
  const w = await h.waitFor(async () => {
    const r = await exchange(srv.base, t.clientId, t.clientSecret);
    if (r.status === 200) { remember(r.json); return null; }
    return r;
  }, 1000, 25);
  const elapsed = Date.now() - start;
  assert.ok(w.ok, `exchange still succeeded ${elapsed} ms after the CLI revoke (must stop within 1 s)`);
  h.assertOAuthError(w.value, 401, 'invalid_client', 'exchange after CLI revoke');
  h.assertUnauthenticated(await api(srv.base, 'GET', `${V1}/apiToken`, { token: acc }), 'access token after CLI revoke');
  const g = await api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}`, { token: S.bootAccess });
  assert.equal(g.json.status, 'Revoked', 'the API shows the CLI revoke');

  // Revoking again through the CLI is fine (idempotent); an unknown id fails with status 1.
  assert.equal(h.cli(srv.db, ['token', 'revoke', t.clientId]).status, 0, 'CLI revoke is idempotent');
  assert.equal(h.cli(srv.db, ['token', 'revoke', 'kgc_0000000000000000']).status, 1, 'CLI revoke of an unknown id exits 1');
  assert.equal(h.cli(srv.db, ['token', 'revoke']).status, 2, 'CLI revoke without an id is a usage error (2)');
});

test('the secret is shown once: only the create response carries clientSecret', async () => {
  const r = await createToken(S.bootAccess, { description: 'once', roleId: S.publicRoleId });
  assert.match(r.json.clientSecret, h.SECRET_RE);
  const g = await api(srv.base, 'GET', `${V1}/apiToken/${r.json.clientId}`, { token: S.bootAccess });
  assert.equal(g.status, 200, g.text);
  h.assertTokenShape(g.json);
  assert.ok(!g.text.includes(r.json.clientSecret), 'GET does not show the secret');
  const all = (await h.listAll(srv.base, S.bootAccess, `${V1}/apiToken`)).flatMap((p) => p.result);
  for (const t of all) assert.equal(t.clientSecret, undefined, `list shows no clientSecret: ${t.clientId}`);
  const cliList = h.cli(srv.db, ['token', 'list', '--json']);
  assert.equal(cliList.status, 0);
  for (const s of seen.secrets) assert.ok(!cliList.stdout.includes(s), 'CLI list shows no secret');
  const plain = h.cli(srv.db, ['token', 'list']);
  assert.equal(plain.status, 0);
  for (const s of seen.secrets) assert.ok(!plain.stdout.includes(s), 'CLI plain list shows no secret');
});

test('expiresOn: in the past → 400; malformed → 400; a valid one is echoed', async () => {
  const past = await createToken(S.bootAccess, { description: 'past', roleId: S.publicRoleId, expiresOn: '2020-01-01T00:00:00Z' }, 400);
  h.assertApiError(past, 400, 'INVALID_ARGUMENT', 'expiresOn in the past');
  const bad = await createToken(S.bootAccess, { description: 'bad', roleId: S.publicRoleId, expiresOn: 'tomorrow' }, 400);
  h.assertApiError(bad, 400, 'INVALID_ARGUMENT', 'expiresOn not a time');
  const num = await createToken(S.bootAccess, { description: 'num', roleId: S.publicRoleId, expiresOn: 1893456000 }, 400);
  h.assertApiError(num, 400, 'INVALID_ARGUMENT', 'expiresOn a number');
  const ok = await createToken(S.bootAccess, { description: 'future', roleId: S.publicRoleId, expiresOn: '2027-01-31T00:00:00Z' });
  assert.equal(Date.parse(ok.json.expiresOn), Date.parse('2027-01-31T00:00:00Z'), `expiresOn echoed: ${ok.json.expiresOn}`);
});

test('an expiring token stops exchanging (and its access tokens stop working) once expiresOn passes', async () => {
  const expMs = (Math.floor(Date.now() / 1000) + 3) * 1000; // 2–3 s ahead, whole seconds
  const expiresOn = new Date(expMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const r = await createToken(S.bootAccess, { description: 'short-lived', roleId: S.aaRoleId, expiresOn });
  assert.equal(Date.parse(r.json.expiresOn), expMs);
  const acc = await exchangeOk(srv.base, r.json.clientId, r.json.clientSecret);
  const ok = await api(srv.base, 'GET', `${V1}/apiToken`, { token: acc });
  assert.equal(ok.status, 200, 'works before expiry');
  const wait = expMs - Date.now() + 150;
  assert.ok(wait <= 5000, `bounded wait: ${wait} ms`);
  if (wait > 0) await h.sleep(wait);
  h.assertOAuthError(await exchange(srv.base, r.json.clientId, r.json.clientSecret), 401, 'invalid_client', 'exchange after expiresOn');
  h.assertUnauthenticated(await api(srv.base, 'GET', `${V1}/apiToken`, { token: acc }), 'access token of an expired API token');
});

test('a role held by an Active token cannot be deleted (400 FAILED_PRECONDITION); once revoked it can (204)', async () => {
  const held = await createRole(S.bootAccess, 'held');
  const t = h.cliJson(srv.db, ['token', 'create', '--role', 'held', '--description', 'holder', '--json']);
  remember(t);
  // Wait until the server knows the CLI-created token (≤ 1 s), so the check cannot race it.
  await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret);
  const r = await api(srv.base, 'DELETE', `${V1}/role/${held.roleId}`, { token: S.bootAccess });
  h.assertApiError(r, 400, 'FAILED_PRECONDITION', 'delete a role held by an Active token');
  const still = await api(srv.base, 'GET', `${V1}/role/${held.roleId}`, { token: S.bootAccess });
  assert.equal(still.status, 200, 'the role is still there');
  const rv = await api(srv.base, 'POST', `${V1}/apiToken/${t.clientId}:revoke`, { token: S.bootAccess });
  assert.equal(rv.status, 200, rv.text);
  const del = await api(srv.base, 'DELETE', `${V1}/role/${held.roleId}`, { token: S.bootAccess });
  assert.equal(del.status, 204, `delete once no Active token holds it: ${del.status} ${del.text}`);
  const gone = await api(srv.base, 'GET', `${V1}/role/${held.roleId}`, { token: S.bootAccess });
  h.assertApiError(gone, 404, 'NOT_FOUND', 'deleted role');
});

test('access-token TTL: the --access-token-ttl 10 token is refused once exp passes', async () => {
  const wait = ttlAccess.exp * 1000 - Date.now() + 1100;
  assert.ok(wait <= 12000, `bounded wait ${wait} ms`);
  if (wait > 0) await h.sleep(wait);
  h.assertUnauthenticated(await api(ttlSrv.base, 'GET', `${V1}/apiToken`, { token: ttlAccess.token }), 'expired access token');
});

test('SIGTERM stops the server cleanly; a restart on the same database keeps tokens, keys and revocations', async () => {
  const ex = await srv.stop();
  assert.ok(ex, 'the server exited after SIGTERM (within 5 s)');
  assert.equal(ex.signal, null, `exited by itself, not killed: ${JSON.stringify(ex)}`);
  assert.equal(ex.code, 0, `exit status 0 after SIGTERM: ${JSON.stringify(ex)}\n${srv.stderr.slice(-1000)}`);

  srv2 = await h.startServer({ dir: srv.dir, args: ['--log-level', 'debug'] });
  assert.ok(!/password:/.test(srv2.stdout), `no admin login printed on a second start:\n${srv2.stdout}`);
  assert.ok(!/first start/.test(srv2.stderr), `no first user made on a second start:\n${srv2.stderr}`);
  // The port differs, so the issuer differs: a fresh exchange is needed for API calls.
  const acc = await exchangeOk(srv2.base, S.boot.clientId, S.boot.clientSecret);
  const r = await api(srv2.base, 'GET', `${V1}/apiToken/${S.readerTok.clientId}`, { token: acc });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'Revoked', 'the revocation survived the restart');
  assert.notEqual(r.json.lastAccessOn, null, 'lastAccessOn was flushed to the database');
  h.assertOAuthError(await exchange(srv2.base, S.readerTok.clientId, S.readerTok.clientSecret), 401, 'invalid_client', 'revoked token after restart');
  const roles = await api(srv2.base, 'GET', `${V1}/role/name=reader/privilege`, { token: acc });
  assert.deepEqual(roles.json.result,
    [{ grantKind: 'Allow', entityKind: 'Account', entityId: S.accountId, grantOption: false, privilege: 'ManageSecurity' }],
    'grants, and the account they are on, survived the restart');
  // Same signing key: the new token's kid equals the old one's.
  assert.equal(h.decodeJwt(acc).header.kid, h.decodeJwt(S.bootAccess).header.kid, 'the signing key persisted');
});

test('no secret or access token appears in the server logs or the database file', async () => {
  assert.ok(seen.secrets.size >= 5, `collected ${seen.secrets.size} secrets`);
  assert.ok(seen.access.size >= 5, `collected ${seen.access.size} access tokens`);
  assert.ok(srv.stderr.length > 0, 'the server logged something on stderr');
  for (const s of [srv, srv2, ttlSrv].filter(Boolean)) {
    for (const secret of seen.secrets) {
      assert.ok(!s.stderr.includes(secret), `secret ${secret.slice(0, 8)}… appears in the server log`);
      assert.ok(!s.stderr.includes(secret.slice(4)), `secret body ${secret.slice(0, 8)}… appears in the server log`);
      assert.ok(!s.stdout.includes(secret), `secret ${secret.slice(0, 8)}… appears on the server's stdout`);
    }
    for (const a of seen.access) {
      const sig = a.split('.')[2];
      assert.ok(!s.stderr.includes(a), 'an access token appears in the server log');
      assert.ok(!s.stderr.includes(sig), 'an access token signature appears in the server log');
      assert.ok(!s.stdout.includes(sig), 'an access token appears on the server\'s stdout');
    }
  }
  // The secret is stored only as a keyed hash: no secret in the database files.
  for (const f of fs.readdirSync(srv.dir).filter((n) => n.startsWith('keygate.db'))) {
    const bytes = fs.readFileSync(path.join(srv.dir, f)).toString('latin1');
    for (const secret of seen.secrets) assert.ok(!bytes.includes(secret), `a secret is stored in clear in ${f}`);
    assert.ok(!bytes.includes(S.adminPassword), `the admin password is stored in clear in ${f}`);
  }
});
