// Node clients against keygate (issue 14), from npm (versions pinned in package-lock.json):
//   - openid-client 6 with its default discovery from the bare issuer URL (it looks only at
//     /.well-known/openid-configuration; allowInsecureRequests because the tests speak plain
//     http), then the client-credentials grant with client_secret_basic and client_secret_post;
//   - jsonwebtoken 9 + jwks-rsa 4, the pair many Express APIs verify bearer tokens with:
//     jwks-rsa fetches the JWKS and finds the key by the token's kid, jsonwebtoken.verify
//     checks signature, audience and issuer.
// openid-client treats the access token as opaque, so it runs against a keygate for each
// signing algorithm (EdDSA, ES256, RS256).  jsonwebtoken 9 verifies RS256 and ES256 (and
// PS*, HS*) but not EdDSA: "EdDSA" is not in its algorithm list, and given an Ed25519 key it
// fails with 'Unknown key type "ed25519"'; so jsonwebtoken + jwks-rsa runs against the ES256
// and RS256 keygates only.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/interop/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as client from 'openid-client';
import { ALGS, algServer, assertAlgKey, jwks, ownTokenPath, revokeApiToken } from './lib.mjs';
import { h, flipSignature, makeToken } from '../standards/lib.mjs';

const require = createRequire(import.meta.url);
const jsonwebtoken = require('jsonwebtoken');
const jwksRsa = require('jwks-rsa');

const { api, decodeJwt } = h;

/* The algorithms jsonwebtoken 9 verifies, of those keygate signs with. */
const JSONWEBTOKEN_ALGS = new Set(['ES256', 'RS256']);

/* openid-client's default discovery from the bare issuer URL, plain http allowed. */
function discover(issuer, clientId, auth) {
  return client.discovery(new URL(issuer), clientId, undefined, auth, {
    execute: [client.allowInsecureRequests],
    timeout: 10,
  });
}

/* jsonwebtoken.verify with jwks-rsa's key lookup, as jwks-rsa's README wires them. */
function verifyWithJwks(jwksClient, token, options) {
  const getKey = (header, cb) => {
    jwksClient.getSigningKey(header.kid, (err, key) => cb(err, key && key.getPublicKey()));
  };
  return new Promise((resolve, reject) => {
    jsonwebtoken.verify(token, getKey, options, (err, payload) => (err ? reject(err) : resolve(payload)));
  });
}

for (const alg of ALGS) {
  const jwt = JSONWEBTOKEN_ALGS.has(alg);
  describe(`Node openid-client${jwt ? ', jsonwebtoken + jwks-rsa' : ''} against a keygate signing with ${alg}`, () => {
    let s;
    let cfg; // openid-client Configuration of s.user (client_secret_basic)

    before(async () => { s = await algServer(alg); });
    after(async () => { if (s) await s.srv.stop(); });

    test('openid-client discovers keygate from the bare issuer URL with its defaults', async () => {
      cfg = await discover(s.srv.base, s.user.clientId, client.ClientSecretBasic(s.user.clientSecret));
      const m = cfg.serverMetadata();
      assert.equal(m.issuer, s.srv.base, 'the issuer is the URL discovery started from');
      assert.equal(m.token_endpoint, `${s.srv.base}/oauth/v2/token`);
      assert.equal(m.jwks_uri, `${s.srv.base}/.well-known/jwks.json`);
      assert.equal(m.introspection_endpoint, `${s.srv.base}/oauth/v2/introspect`);
      assert.equal(m.revocation_endpoint, `${s.srv.base}/oauth/v2/revoke`);
      assert.ok(m.token_endpoint_auth_methods_supported.includes('client_secret_basic'), JSON.stringify(m));
      assert.ok(m.token_endpoint_auth_methods_supported.includes('client_secret_post'), JSON.stringify(m));
      assert.ok(m.grant_types_supported.includes('client_credentials'), JSON.stringify(m));
      assert.ok(m.access_token_signing_alg_values_supported.includes(alg),
        `access_token_signing_alg_values_supported names ${alg}: ${JSON.stringify(m)}`);
    });

    test('openid-client clientCredentialsGrant (client_secret_basic and _post) gives a token the REST API accepts', async () => {
      assert.ok(cfg, 'discovery ran first');
      const post = await discover(s.srv.base, s.user.clientId, client.ClientSecretPost(s.user.clientSecret));
      for (const [name, c] of [['basic', cfg], ['post', post]]) {
        const t = await client.clientCredentialsGrant(c);
        assert.equal(String(t.token_type).toLowerCase(), 'bearer', name);
        assert.ok(t.expiresIn() > 0, `${name}: expires_in ${t.expires_in}`);
        assert.equal(t.scope, undefined, `${name}: no scope in the answer`);
        const { header, payload } = decodeJwt(t.access_token);
        assert.equal(header.alg, alg, name);
        assert.equal(payload.sub, s.user.clientId, name);
        const r = await api(s.srv.base, 'GET', ownTokenPath(s.user.clientId), { token: t.access_token });
        assert.equal(r.status, 200, `${name}: REST call with the token: ${r.status} ${r.text}`);
        assert.equal(r.json.clientId, s.user.clientId);
      }
    });

    test('openid-client: a revoked API token\'s access token gets 401, and a new grant fails with invalid_client', async () => {
      const t = await makeToken(s.srv.base, s.admin.access, s.roleId, 'revoked soon');
      const c = await discover(s.srv.base, t.clientId, client.ClientSecretBasic(t.clientSecret));
      const { access_token: access } = await client.clientCredentialsGrant(c);
      const path = ownTokenPath(t.clientId);
      assert.equal((await api(s.srv.base, 'GET', path, { token: access })).status, 200);
      await revokeApiToken(s, t.clientId);
      assert.equal((await api(s.srv.base, 'GET', path, { token: access })).status, 401, 'the held access token stops working');
      // A 401 with a WWW-Authenticate challenge (RFC 6749 §5.2 for HTTP Basic): openid-client
      // throws a WWWAuthenticateChallengeError that keeps the response for its body.
      const e = await client.clientCredentialsGrant(c).then(() => assert.fail('the grant succeeded'), (x) => x);
      assert.ok(e instanceof client.WWWAuthenticateChallengeError, `a WWWAuthenticateChallengeError: ${e}`);
      assert.equal(e.status, 401);
      assert.equal(e.cause[0].scheme, 'basic', JSON.stringify(e.cause));
      assert.equal((await e.response.json()).error, 'invalid_client');
    });

    if (jwt) {
      test('jwks-rsa finds the key by kid; jsonwebtoken.verify accepts the token and refuses a tampered one', async () => {
        const token = await h.accessToken(s.srv.base, s.user.clientId, s.user.clientSecret);
        const { header } = decodeJwt(token);
        const published = (await jwks(s)).keys;
        for (const k of published) assertAlgKey(k, alg);
        const jwksClient = jwksRsa({ jwksUri: s.meta.jwks_uri, timeout: 10000 });
        const key = await jwksClient.getSigningKey(header.kid);
        assert.equal(key.kid, header.kid);
        assert.equal(key.alg, alg, 'jwks-rsa reads the key\'s alg');
        const options = { algorithms: [alg], audience: s.issuer, issuer: s.issuer };
        const payload = await verifyWithJwks(jwksClient, token, options);
        assert.equal(payload.sub, s.user.clientId);
        assert.equal(payload.iss, s.issuer);
        assert.equal(payload.role, 'interop_client');
        const refused = (t, opts, message) => assert.rejects(verifyWithJwks(jwksClient, t, opts), (e) => {
          assert.equal(e.name, 'JsonWebTokenError', `${message}: ${e}`);
          assert.match(e.message, message);
          return true;
        });
        await refused(flipSignature(token), options, /invalid signature/);
        await refused(token, { ...options, audience: 'https://api.elsewhere.example' }, /audience invalid/);
        await refused(token, { ...options, issuer: 'https://elsewhere.example' }, /issuer invalid/);
        await refused(token, { ...options, algorithms: [alg === 'RS256' ? 'ES256' : 'RS256'] }, /invalid algorithm/);
      });
    }
  });
}
