// keygate's standard OAuth endpoints driven by stock npm clients (issue 4):
//   - openid-client 6 discovers keygate through RFC 8414 and runs the client-credentials grant
//     unmodified (client_secret_basic and client_secret_post); it also drives RFC 7662
//     introspection and RFC 7009 revocation;
//   - jose 6 verifies access tokens against the published JWKS (createRemoteJWKSet).
// Plain fetch is used only for what the libraries do not expose (status codes of refusals,
// the raw metadata document).
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/standards/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as client from 'openid-client';
import * as jose from 'jose';
import { h, flipSignature, makeRole, makeToken } from './lib.mjs';

const { V1, api, startServer, bootstrap, decodeJwt, sleep } = h;

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

/* Form POST with plain fetch; returns {status, headers, text, json}. */
async function formPost(url, form, headers = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { ...FORM, ...headers },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}

/* The HTTP status and OAuth error code behind an openid-client/oauth4webapi rejection. */
async function oauthFailure(promise) {
  try {
    await promise;
  } catch (e) {
    if (e instanceof client.ResponseBodyError) return { status: e.status, error: e.error, e };
    if (e instanceof client.WWWAuthenticateChallengeError) {
      let body;
      try { body = await e.response.json(); } catch { body = undefined; }
      return { status: e.status, error: body && body.error, challenge: e.cause, e };
    }
    return { status: undefined, error: undefined, e };
  }
  assert.fail('expected the OAuth call to be refused, but it succeeded');
}

/* An openid-client Configuration for (clientId, secret) discovered from base. */
function discover(base, clientId, auth) {
  return client.discovery(new URL(base), clientId, undefined, auth, {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests],
    timeout: 10,
  });
}

describe('OAuth standards with openid-client and jose', () => {
  let srv;
  let admin; // accountadmin API token (CLI bootstrap) + its access token
  let meta; // the RFC 8414 document
  let adminCfg; // openid-client Configuration for the admin client (Basic)
  let plain; // {clientId, clientSecret} of a token whose role lacks Introspect
  let other; // a second accountadmin token, used as "another client"
  let short; // a server with --access-token-ttl 10, for expiry
  let shortTok; // {access, issuedAt, issuer} from `short`

  before(async () => {
    srv = await startServer();
    short = await startServer({ args: ['--access-token-ttl', '10'] });
    // Get the short-lived token first: its expiry is checked by the last test, so the wait
    // overlaps with everything in between.
    const sb = await bootstrap(short, 'short-lived');
    shortTok = { access: sb.access, issuedAt: Date.now(), boot: sb };
    admin = await bootstrap(srv, 'standards admin');
    const roleId = await makeRole(srv.base, admin.access, 'no_introspect', ['ManageSecurity']);
    plain = await makeToken(srv.base, admin.access, roleId, 'no Introspect');
    const adminRoleId = (await api(srv.base, 'GET', `${V1}/role/name=accountadmin`, { token: admin.access })).json.roleId;
    other = await makeToken(srv.base, admin.access, adminRoleId, 'another client');
    adminCfg = await discover(srv.base, admin.clientId, client.ClientSecretBasic(admin.clientSecret));
  });

  after(async () => {
    if (srv) await srv.stop();
    if (short) await short.stop();
  });

  test('RFC 8414 metadata document names every endpoint and capability', async () => {
    const r = await fetch(`${srv.base}/.well-known/oauth-authorization-server`, { signal: AbortSignal.timeout(5000) });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
    meta = await r.json();
    const iss = srv.base;
    assert.equal(meta.issuer, iss, 'default issuer is http://<listen address>');
    assert.equal(meta.token_endpoint, `${iss}/oauth/v2/token`);
    assert.equal(meta.introspection_endpoint, `${iss}/oauth/v2/introspect`);
    assert.equal(meta.revocation_endpoint, `${iss}/oauth/v2/revoke`);
    assert.equal(meta.jwks_uri, `${iss}/.well-known/jwks.json`);
    assert.deepEqual(meta.grant_types_supported, ['client_credentials']);
    assert.deepEqual([...meta.token_endpoint_auth_methods_supported].sort(),
      ['client_secret_basic', 'client_secret_post']);
    assert.deepEqual([...meta.introspection_endpoint_auth_methods_supported].sort(),
      ['client_secret_basic', 'client_secret_post']);
    assert.deepEqual([...meta.revocation_endpoint_auth_methods_supported].sort(),
      ['client_secret_basic', 'client_secret_post']);
    assert.deepEqual(meta.access_token_signing_alg_values_supported, ['EdDSA']);
    assert.deepEqual(meta.response_types_supported, []);
    assert.deepEqual(meta.scopes_supported, []);
  });

  test('openid-client discovery (RFC 8414) yields keygate\'s metadata', async () => {
    const m = adminCfg.serverMetadata();
    assert.equal(m.issuer, srv.base);
    assert.equal(m.token_endpoint, `${srv.base}/oauth/v2/token`);
    assert.equal(m.jwks_uri, `${srv.base}/.well-known/jwks.json`);
    assert.equal(m.introspection_endpoint, `${srv.base}/oauth/v2/introspect`);
    assert.equal(m.revocation_endpoint, `${srv.base}/oauth/v2/revoke`);
    assert.equal(adminCfg.clientMetadata().client_id, admin.clientId);
  });

  test('openid-client clientCredentialsGrant with client_secret_basic → token the REST API accepts', async () => {
    const t = await client.clientCredentialsGrant(adminCfg);
    assert.equal(typeof t.access_token, 'string');
    assert.equal(String(t.token_type).toLowerCase(), 'bearer');
    assert.ok(Number.isInteger(t.expires_in) && t.expires_in > 0, `expires_in: ${t.expires_in}`);
    assert.ok(t.expiresIn() > 0 && t.expiresIn() <= t.expires_in);
    const r = await api(srv.base, 'GET', `${V1}/apiToken/${admin.clientId}`, { token: t.access_token });
    assert.equal(r.status, 200, `REST with the openid-client token: ${r.status} ${r.text}`);
    assert.equal(r.json.clientId, admin.clientId);
  });

  test('openid-client clientCredentialsGrant with client_secret_post → token the REST API accepts', async () => {
    const cfg = await discover(srv.base, plain.clientId, client.ClientSecretPost(plain.clientSecret));
    const t = await client.clientCredentialsGrant(cfg);
    assert.equal(typeof t.access_token, 'string');
    assert.equal(decodeJwt(t.access_token).payload.sub, plain.clientId);
    const r = await api(srv.base, 'GET', `${V1}/apiToken`, { token: t.access_token });
    assert.equal(r.status, 200, `REST with the client_secret_post token: ${r.status} ${r.text}`);
  });

  test('discovery from the bare issuer URL with openid-client\'s defaults (/.well-known/openid-configuration)', async () => {
    const r = await fetch(`${srv.base}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10000) });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), meta, 'the same document as /.well-known/oauth-authorization-server');
    // no `algorithm` option: openid-client looks only at the OpenID Connect location
    const cfg = await client.discovery(new URL(srv.base), admin.clientId, undefined,
      client.ClientSecretBasic(admin.clientSecret), { execute: [client.allowInsecureRequests], timeout: 10 });
    assert.equal(cfg.serverMetadata().issuer, srv.base);
    const t = await client.clientCredentialsGrant(cfg);
    assert.equal(decodeJwt(t.access_token).payload.sub, admin.clientId);
    assert.equal(t.scope, undefined, 'no scope in the answer: keygate grants none');
  });

  test('a server started without --issuer says in its log which issuer it uses', async () => {
    assert.match(srv.stderr, new RegExp(`no --issuer given: tokens name ${srv.base.replace(/[.]/g, '\\.')} as their issuer`));
  });

  test('openid-client passes an ignored scope parameter through', async () => {
    const t = await client.clientCredentialsGrant(adminCfg, { scope: 'anything at all' });
    assert.equal(typeof t.access_token, 'string');
  });

  test('openid-client sees a wrong secret as invalid_client (401)', async () => {
    const cfg = await discover(srv.base, admin.clientId, client.ClientSecretBasic(h.wrongSecret(admin.clientSecret)));
    const f = await oauthFailure(client.clientCredentialsGrant(cfg));
    assert.equal(f.status, 401, `status: ${f.e}`);
    assert.equal(f.error, 'invalid_client', `error: ${f.e}`);
    const cfgPost = await discover(srv.base, admin.clientId, client.ClientSecretPost('kgs_wrong'));
    const g = await oauthFailure(client.clientCredentialsGrant(cfgPost));
    assert.equal(g.status, 401, `status (post): ${g.e}`);
    assert.equal(g.error, 'invalid_client', `error (post): ${g.e}`);
  });

  test('JWKS document: one Ed25519 OKP key whose kid the access tokens carry', async () => {
    const r = await fetch(`${srv.base}/.well-known/jwks.json`, { signal: AbortSignal.timeout(5000) });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
    const jwks = await r.json();
    assert.ok(Array.isArray(jwks.keys) && jwks.keys.length >= 1, JSON.stringify(jwks));
    for (const k of jwks.keys) {
      assert.equal(k.kty, 'OKP');
      assert.equal(k.crv, 'Ed25519');
      assert.equal(k.alg, 'EdDSA');
      assert.equal(k.use, 'sig');
      assert.equal(typeof k.kid, 'string');
      assert.ok(k.kid.length > 0);
      assert.equal(Buffer.from(k.x, 'base64url').length, 32, 'x is 32 bytes, base64url');
      assert.equal(k.d, undefined, 'the JWKS must not publish a private key');
    }
    const { header } = decodeJwt(admin.access);
    assert.ok(jwks.keys.some((k) => k.kid === header.kid), `token kid ${header.kid} is in the JWKS`);
  });

  test('jose createRemoteJWKSet + jwtVerify verifies an access token (RFC 9068 profile)', async () => {
    const JWKS = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
    const t = await client.clientCredentialsGrant(adminCfg);
    const { payload, protectedHeader } = await jose.jwtVerify(t.access_token, JWKS, {
      issuer: meta.issuer, audience: meta.issuer, typ: 'at+jwt', algorithms: ['EdDSA'],
    });
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, admin.clientId);
    assert.equal(payload.client_id, admin.clientId);
    assert.equal(payload.role, 'accountadmin');
    assert.equal(typeof payload.jti, 'string');
    assert.ok(payload.exp > payload.iat);
  });

  test('jose rejects a token with a flipped signature byte, a changed payload, or the wrong audience', async () => {
    const JWKS = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
    const opts = { issuer: meta.issuer, audience: meta.issuer, typ: 'at+jwt', algorithms: ['EdDSA'] };
    await assert.rejects(jose.jwtVerify(flipSignature(admin.access), JWKS, opts),
      (e) => e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    const { parts, payload } = decodeJwt(admin.access);
    const forged = `${parts[0]}.${h.encodeJwtPart({ ...payload, role: 'other' })}.${parts[2]}`;
    await assert.rejects(jose.jwtVerify(forged, JWKS, opts),
      (e) => e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    await assert.rejects(jose.jwtVerify(admin.access, JWKS, { ...opts, audience: 'https://elsewhere.example' }),
      (e) => e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED');
  });

  test('jose rejects an access token from another keygate (different signing key)', async () => {
    const JWKS = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
    await assert.rejects(jose.jwtVerify(shortTok.access, JWKS, { algorithms: ['EdDSA'] }),
      (e) => e.code === 'ERR_JWKS_NO_MATCHING_KEY' || e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  });

  test('openid-client tokenIntrospection: an active token with every RFC 7662 member', async () => {
    const t = await client.clientCredentialsGrant(await discover(srv.base, plain.clientId, client.ClientSecretBasic(plain.clientSecret)));
    const claims = decodeJwt(t.access_token).payload;
    const r = await client.tokenIntrospection(adminCfg, t.access_token);
    assert.equal(r.active, true, JSON.stringify(r));
    assert.equal(r.client_id, plain.clientId);
    assert.equal(r.sub, plain.clientId);
    assert.equal(r.role, 'no_introspect');
    assert.equal(r.exp, claims.exp);
    assert.equal(r.iat, claims.iat);
    assert.equal(r.jti, claims.jti);
    assert.equal(r.iss, srv.base);
    assert.equal(r.aud, claims.aud);
    assert.equal(String(r.token_type).toLowerCase(), 'bearer');
  });

  test('openid-client tokenIntrospection with client_secret_post works too', async () => {
    const cfg = await discover(srv.base, admin.clientId, client.ClientSecretPost(admin.clientSecret));
    const r = await client.tokenIntrospection(cfg, admin.access);
    assert.equal(r.active, true, JSON.stringify(r));
    assert.equal(r.client_id, admin.clientId);
  });

  test('introspection says {"active":false} for malformed and forged tokens', async () => {
    const { parts, payload } = decodeJwt(admin.access);
    const cases = {
      garbage: 'not-a-token',
      empty3: '..',
      flippedSignature: flipSignature(admin.access),
      changedPayload: `${parts[0]}.${h.encodeJwtPart({ ...payload, role: 'x' })}.${parts[2]}`,
      algNone: `${h.encodeJwtPart({ alg: 'none', typ: 'at+jwt' })}.${parts[1]}.`,
      otherIssuerKey: shortTok.access,
    };
    for (const [name, token] of Object.entries(cases)) {
      const r = await client.tokenIntrospection(adminCfg, token);
      assert.deepEqual({ ...r }, { active: false }, `${name}: ${JSON.stringify(r)}`);
    }
  });

  test('introspection: raw answer is JSON, not cached, for active and inactive', async () => {
    for (const token of [admin.access, 'junk']) {
      const r = await formPost(meta.introspection_endpoint, { token }, { Authorization: h.basic(admin.clientId, admin.clientSecret) });
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type') || '', /^application\/json/);
      assert.equal(typeof r.json.active, 'boolean');
      assert.match(r.headers.get('cache-control') || '', /no-store/, 'introspection answers are not cached');
    }
  });

  test('introspection refuses a caller whose role lacks Introspect (403 unauthorized_client)', async () => {
    const cfg = await discover(srv.base, plain.clientId, client.ClientSecretBasic(plain.clientSecret));
    const f = await oauthFailure(client.tokenIntrospection(cfg, admin.access));
    assert.equal(f.status, 403, `status: ${f.e}`);
    assert.equal(f.error, 'unauthorized_client', `error: ${f.e}`);
    const r = await formPost(meta.introspection_endpoint, { token: admin.access },
      { Authorization: h.basic(plain.clientId, plain.clientSecret) });
    h.assertOAuthError(r, 403, 'unauthorized_client', 'introspect without Introspect');
    assert.equal(r.json.active, undefined, 'a refusal must not say whether the token is active');
  });

  test('introspection refuses bad client credentials (401 invalid_client) and no credentials', async () => {
    const r = await formPost(meta.introspection_endpoint, { token: admin.access },
      { Authorization: h.basic(admin.clientId, 'kgs_wrong') });
    h.assertOAuthError(r, 401, 'invalid_client', 'introspect with a wrong secret');
    const n = await formPost(meta.introspection_endpoint, { token: admin.access });
    h.assertOAuthError(n, 401, 'invalid_client', 'introspect without client authentication');
    const cfg = await discover(srv.base, admin.clientId, client.ClientSecretBasic('kgs_wrong'));
    const f = await oauthFailure(client.tokenIntrospection(cfg, admin.access));
    assert.equal(f.status, 401, `status: ${f.e}`);
  });

  test('introspection: token of a revoked API token is inactive at once', async () => {
    const roleId = (await api(srv.base, 'GET', `${V1}/role/name=no_introspect`, { token: admin.access })).json.roleId;
    const victim = await makeToken(srv.base, admin.access, roleId, 'to be revoked');
    const cfg = await discover(srv.base, victim.clientId, client.ClientSecretBasic(victim.clientSecret));
    const t = await client.clientCredentialsGrant(cfg);
    assert.equal((await client.tokenIntrospection(adminCfg, t.access_token)).active, true);
    const rv = await api(srv.base, 'POST', `${V1}/apiToken/${victim.clientId}:revoke`, { token: admin.access });
    assert.equal(rv.status, 200, rv.text);
    const r = await client.tokenIntrospection(adminCfg, t.access_token);
    assert.deepEqual({ ...r }, { active: false });
    const f = await oauthFailure(client.clientCredentialsGrant(cfg));
    assert.equal(f.status, 401, 'a revoked client cannot get new tokens');
  });

  test('openid-client tokenRevocation: a client revokes one of its own access tokens (RFC 7009)', async () => {
    const cfg = await discover(srv.base, other.clientId, client.ClientSecretBasic(other.clientSecret));
    const t1 = (await client.clientCredentialsGrant(cfg)).access_token;
    const t2 = (await client.clientCredentialsGrant(cfg)).access_token;
    assert.notEqual(decodeJwt(t1).payload.jti, decodeJwt(t2).payload.jti, 'each access token has its own jti');
    const before1 = await api(srv.base, 'GET', `${V1}/apiToken`, { token: t1 });
    assert.equal(before1.status, 200);

    const res = await client.tokenRevocation(cfg, t1);
    assert.equal(res, undefined);

    const i1 = await client.tokenIntrospection(adminCfg, t1);
    assert.deepEqual({ ...i1 }, { active: false }, 'a revoked access token introspects inactive');
    h.assertUnauthenticated(await api(srv.base, 'GET', `${V1}/apiToken`, { token: t1 }), 'REST with a revoked access token');

    const i2 = await client.tokenIntrospection(adminCfg, t2);
    assert.equal(i2.active, true, 'the client\'s other access token is untouched');
    const r2 = await api(srv.base, 'GET', `${V1}/apiToken`, { token: t2 });
    assert.equal(r2.status, 200, 'the client\'s other access token still works');

    // The API token itself is still active: it can get new tokens.
    const t3 = (await client.clientCredentialsGrant(cfg)).access_token;
    assert.equal((await api(srv.base, 'GET', `${V1}/apiToken`, { token: t3 })).status, 200);

    // Revoking again is harmless (RFC 7009 §2.2).
    await client.tokenRevocation(cfg, t1);
  });

  test('revocation with client_secret_post and token_type_hint=access_token', async () => {
    const cfg = await discover(srv.base, other.clientId, client.ClientSecretPost(other.clientSecret));
    const t = (await client.clientCredentialsGrant(cfg)).access_token;
    await client.tokenRevocation(cfg, t, { token_type_hint: 'access_token' });
    assert.equal((await client.tokenIntrospection(adminCfg, t)).active, false);
  });

  test('revocation: a token issued to another client → 403 unauthorized_client, token stays active', async () => {
    const cfg = await discover(srv.base, other.clientId, client.ClientSecretBasic(other.clientSecret));
    const t = (await client.clientCredentialsGrant(adminCfg)).access_token; // admin's token
    const f = await oauthFailure(client.tokenRevocation(cfg, t));
    assert.equal(f.status, 403, `status: ${f.e}`);
    assert.equal(f.error, 'unauthorized_client', `error: ${f.e}`);
    assert.equal((await client.tokenIntrospection(adminCfg, t)).active, true, 'the other client\'s token is not revoked');
  });

  test('revocation: garbage → 200; hint refresh_token → 400 unsupported_token_type; bad client → 401', async () => {
    const cfg = await discover(srv.base, other.clientId, client.ClientSecretBasic(other.clientSecret));
    await client.tokenRevocation(cfg, 'definitely-not-a-token'); // resolves: 200
    const raw = await formPost(meta.revocation_endpoint, { token: 'garbage' },
      { Authorization: h.basic(other.clientId, other.clientSecret) });
    assert.equal(raw.status, 200, raw.text);

    const t = (await client.clientCredentialsGrant(cfg)).access_token;
    const f = await oauthFailure(client.tokenRevocation(cfg, t, { token_type_hint: 'refresh_token' }));
    assert.equal(f.status, 400, `status: ${f.e}`);
    assert.equal(f.error, 'unsupported_token_type', `error: ${f.e}`);
    assert.equal((await client.tokenIntrospection(adminCfg, t)).active, true, 'refused revocation changed nothing');

    const bad = await formPost(meta.revocation_endpoint, { token: t },
      { Authorization: h.basic(other.clientId, 'kgs_wrong') });
    h.assertOAuthError(bad, 401, 'invalid_client', 'revoke with a wrong secret');
    assert.equal((await client.tokenIntrospection(adminCfg, t)).active, true);
  });

  test('expired access token: introspection inactive, jose ERR_JWT_EXPIRED, REST 401 (ttl 10 s)', async () => {
    const sMeta = await (await fetch(`${short.base}/.well-known/oauth-authorization-server`)).json();
    const cfg = await discover(short.base, shortTok.boot.clientId, client.ClientSecretBasic(shortTok.boot.clientSecret));
    const exp = decodeJwt(shortTok.access).payload.exp;
    const JWKS = jose.createRemoteJWKSet(new URL(sMeta.jwks_uri));
    const opts = { issuer: sMeta.issuer, audience: sMeta.issuer, typ: 'at+jwt', algorithms: ['EdDSA'] };
    // Still valid now? (Only if the earlier tests were quick.)
    if (Date.now() / 1000 < exp - 1) {
      assert.equal((await client.tokenIntrospection(cfg, shortTok.access)).active, true);
      await jose.jwtVerify(shortTok.access, JWKS, opts);
    }
    const waitMs = exp * 1000 - Date.now() + 1100;
    assert.ok(waitMs < 12000, `bounded wait: ${waitMs} ms`);
    if (waitMs > 0) await sleep(waitMs);
    const r = await client.tokenIntrospection(cfg, shortTok.access);
    assert.deepEqual({ ...r }, { active: false }, 'an expired token introspects inactive');
    await assert.rejects(jose.jwtVerify(shortTok.access, JWKS, opts), (e) => e.code === 'ERR_JWT_EXPIRED');
    h.assertUnauthenticated(await api(short.base, 'GET', `${V1}/apiToken`, { token: shortTok.access }), 'REST with an expired token');
    // Revoking an expired token is not an error (RFC 7009 §2.2).
    await client.tokenRevocation(cfg, shortTok.access);
  });
});

describe('signing-key rotation (keygate keys rotate) seen by jose and openid-client', () => {
  let srv;
  let boot;
  const MAX_AGE = 2; // --jwks-max-age: a new key signs MAX_AGE + 5 s after it is published
  before(async () => {
    srv = await startServer({ args: ['--jwks-max-age', String(MAX_AGE)] });
    boot = await bootstrap(srv, 'rotation');
  });
  after(async () => { if (srv) await srv.stop(); });

  const fetchJwks = () => fetch(`${srv.base}/.well-known/jwks.json`, { signal: AbortSignal.timeout(5000) });
  const jwks = async () => (await (await fetchJwks()).json()).keys;

  test('after a rotation: the new key is published before it signs, for as long as the JWKS may be cached; old tokens still verify', async () => {
    const cfg = await discover(srv.base, boot.clientId, client.ClientSecretBasic(boot.clientSecret));
    const oldTok = (await client.clientCredentialsGrant(cfg)).access_token;
    const oldKid = decodeJwt(oldTok).header.kid;
    // A resource server caches the key set as its Cache-Control allows...
    const res = await fetchJwks();
    assert.equal(res.headers.get('cache-control'), `public, max-age=${MAX_AGE}`);
    const cached = (await res.json()).keys.map((k) => k.kid);
    const cachedUntil = Date.now() + MAX_AGE * 1000;
    assert.deepEqual(cached, [oldKid]);

    const r = h.cli(srv.db, ['keys', 'rotate']);
    assert.equal(r.status, 0, r.stderr);

    // ...and meets no kid it does not know: every token issued while its copy may be used
    // carries a kid of that copy.  Later the new kid signs.
    let newTok = null;
    const t0 = Date.now();
    for (let i = 0; i < 300 && Date.now() - t0 < 15000 && !newTok; i++) {
      const t = (await client.clientCredentialsGrant(cfg)).access_token;
      const kid = decodeJwt(t).header.kid;
      if (Date.now() < cachedUntil) assert.ok(cached.includes(kid), `a token signed with ${kid} while a cached JWKS without it was valid`);
      if (kid !== oldKid) newTok = t;
      else await sleep(100);
    }
    assert.ok(newTok, 'new access tokens still carry the old kid 15 s after keys rotate');
    assert.ok(Date.now() - t0 >= MAX_AGE * 1000, 'the new key signed before the JWKS max-age had passed');
    const newKid = decodeJwt(newTok).header.kid;

    const keys = await jwks();
    assert.deepEqual(keys.map((k) => k.kid).sort(), [oldKid, newKid].sort(), 'the JWKS publishes the new and the retired key');
    for (const k of keys) assert.equal(k.d, undefined);

    // A verifier that fetches the JWKS now verifies both. (jose's createRemoteJWKSet refetches
    // for an unknown kid only after its 30 s cooldown, so a set fetched *before* the rotation
    // would reject the new kid for up to 30 s: hence a fresh set here.)
    const JWKS = jose.createRemoteJWKSet(new URL(`${srv.base}/.well-known/jwks.json`));
    const opts = { issuer: srv.base, audience: srv.base, typ: 'at+jwt', algorithms: ['EdDSA'] };
    assert.equal((await jose.jwtVerify(oldTok, JWKS, opts)).protectedHeader.kid, oldKid);
    assert.equal((await jose.jwtVerify(newTok, JWKS, opts)).protectedHeader.kid, newKid);

    // keygate itself still accepts tokens signed with the retired key.
    for (const [name, t] of [['old', oldTok], ['new', newTok]]) {
      assert.equal((await client.tokenIntrospection(cfg, t)).active, true, `${name} token introspects active`);
      assert.equal((await api(srv.base, 'GET', `${V1}/apiToken`, { token: t })).status, 200, `${name} token on the REST API`);
    }
    // And a forged token with the old kid still fails.
    assert.deepEqual({ ...(await client.tokenIntrospection(cfg, flipSignature(oldTok))) }, { active: false });
  });
});

describe('signing algorithms: --signing-alg and keygate keys rotate --alg, seen by jose and openid-client', () => {
  let srv;
  let boot;
  let cfg;
  let dir;
  const MAX_AGE = 1;
  before(async () => {
    srv = await startServer({ keepDir: true, args: ['--signing-alg', 'RS256', '--jwks-max-age', String(MAX_AGE)] });
    dir = srv.dir;
    boot = await bootstrap(srv, 'algorithms');
    cfg = await discover(srv.base, boot.clientId, client.ClientSecretBasic(boot.clientSecret));
  });
  after(async () => {
    if (srv) await srv.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = async (p) => (await fetch(`${srv.base}${p}`, { signal: AbortSignal.timeout(5000) })).json();
  const token = async () => (await client.clientCredentialsGrant(cfg)).access_token;
  /* Access tokens until one has header alg `alg` (bounded); returns it, or null. */
  const tokenWithAlg = async (alg) => {
    const t0 = Date.now();
    for (let i = 0; i < 150 && Date.now() - t0 < 12000; i++) {
      const t = await token();
      if (decodeJwt(t).header.alg === alg) return t;
      await sleep(100);
    }
    return null;
  };

  test('a new key directory gets a key of --signing-alg: RS256 (2048 bits), published as a JWK with alg and use', async () => {
    const t = await token();
    assert.equal(decodeJwt(t).header.alg, 'RS256');
    const [k] = (await get('/.well-known/jwks.json')).keys;
    assert.equal(k.kty, 'RSA');
    assert.equal(k.alg, 'RS256');
    assert.equal(k.use, 'sig');
    assert.equal(Buffer.from(k.n, 'base64url').length * 8, 2048);
    assert.equal(k.d, undefined);
    assert.deepEqual((await get('/.well-known/openid-configuration')).access_token_signing_alg_values_supported, ['RS256']);
    const JWKS = jose.createRemoteJWKSet(new URL(`${srv.base}/.well-known/jwks.json`));
    const v = await jose.jwtVerify(t, JWKS, { issuer: srv.base, audience: srv.base, typ: 'at+jwt', algorithms: ['RS256'] });
    assert.equal(v.payload.client_id, boot.clientId);
    await assert.rejects(jose.jwtVerify(flipSignature(t), JWKS, { algorithms: ['RS256'] }));
  });

  test('keys rotate --alg ES256 changes the algorithm with no failed request: both published, then ES256 signs', async () => {
    const bad = h.cli(srv.db, ['keys', 'rotate', '--alg', 'HS256']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /keys rotate: --alg is EdDSA, ES256 or RS256, not 'HS256'/);

    const rsTok = await token();
    const r = h.cli(srv.db, ['keys', 'rotate', '--alg', 'ES256']);
    assert.equal(r.status, 0, r.stderr);
    const w = await h.waitFor(async () => {
      const keys = (await get('/.well-known/jwks.json')).keys;
      return keys.length === 2 ? keys : null;
    }, 2000, 50);
    assert.ok(w.ok, 'the ES256 key is published within 2 s');
    assert.deepEqual(w.value.map((k) => k.alg), ['RS256', 'ES256'], 'RS256 still signs (listed first), ES256 published');
    const ec = w.value[1];
    assert.deepEqual([ec.kty, ec.crv, ec.use], ['EC', 'P-256', 'sig']);
    assert.equal(Buffer.from(ec.x, 'base64url').length, 32);
    assert.equal(Buffer.from(ec.y, 'base64url').length, 32);
    const meta = await get('/.well-known/oauth-authorization-server');
    assert.deepEqual(meta.access_token_signing_alg_values_supported, ['RS256', 'ES256']);

    const esTok = await tokenWithAlg('ES256');
    assert.ok(esTok, 'no ES256 token within 12 s of the rotation');
    const JWKS = jose.createRemoteJWKSet(new URL(`${srv.base}/.well-known/jwks.json`));
    const opts = { issuer: srv.base, audience: srv.base, typ: 'at+jwt', algorithms: ['RS256', 'ES256'] };
    assert.equal((await jose.jwtVerify(esTok, JWKS, opts)).protectedHeader.kid, ec.kid);
    assert.equal((await jose.jwtVerify(rsTok, JWKS, opts)).protectedHeader.alg, 'RS256');
    for (const t of [rsTok, esTok]) {
      assert.equal((await client.tokenIntrospection(cfg, t)).active, true);
      assert.equal((await api(srv.base, 'GET', `${V1}/apiToken`, { token: t })).status, 200);
    }
    assert.deepEqual({ ...(await client.tokenIntrospection(cfg, flipSignature(esTok))) }, { active: false });
  });

  test('a restart with another --signing-alg rotates to it (once), publishing before signing', async () => {
    await srv.stop();
    srv = await startServer({ dir, args: ['--signing-alg', 'EdDSA', '--jwks-max-age', String(MAX_AGE)] });
    cfg = await discover(srv.base, boot.clientId, client.ClientSecretBasic(boot.clientSecret));
    // the signing key first, then the others, newest first
    assert.deepEqual((await get('/.well-known/jwks.json')).keys.map((k) => k.alg), ['ES256', 'EdDSA', 'RS256']);
    assert.equal(decodeJwt(await token()).header.alg, 'ES256', 'the new EdDSA key signed at once');
    assert.match(srv.stderr, /made a new EdDSA key/);
    assert.ok(await tokenWithAlg('EdDSA'), 'no EdDSA token within 12 s of the restart');
    // the same flag again: no further key
    await srv.stop();
    srv = await startServer({ dir, args: ['--signing-alg', 'EdDSA', '--jwks-max-age', String(MAX_AGE)] });
    assert.equal((await get('/.well-known/jwks.json')).keys.length, 3);
  });
});
