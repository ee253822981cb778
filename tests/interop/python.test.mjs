// Python clients against keygate (issue 14), from Debian's packages under /usr/bin/python3:
//   - requests-oauthlib 1.3 (oauthlib 3.2): BackendApplicationClient + OAuth2Session.fetch_token
//     on the token endpoint the discovery document names, then requests with the session;
//   - PyJWT 2.6 with cryptography: PyJWKClient(jwks_uri) finds the key by kid, jwt.decode
//     checks signature, audience and issuer.
// Both against a keygate for each signing algorithm, EdDSA, ES256 and RS256: requests-oauthlib
// treats the token as opaque, so the algorithm must not matter to it; PyJWT 2.6 verifies all
// three (EdDSA through cryptography's Ed25519).  The programs are in pyclient.py.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/interop/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALGS, algServer, assertAlgKey, jwks, ownTokenPath, python, revokeApiToken } from './lib.mjs';
import { h, flipSignature, makeToken } from '../standards/lib.mjs';

const { decodeJwt } = h;

for (const alg of ALGS) {
  describe(`Python requests-oauthlib and PyJWT against a keygate signing with ${alg}`, () => {
    let s;
    let fetched; // the results of the fetch steps of the first test

    before(async () => { s = await algServer(alg); });
    after(async () => { if (s) await s.srv.stop(); });

    test('requests-oauthlib fetches a token (HTTP Basic, client_secret_post, with a scope) and calls the REST API with it', async () => {
      const { clientId, clientSecret } = s.user;
      const fetch = { op: 'fetch', token_url: s.meta.token_endpoint, client_id: clientId, client_secret: clientSecret, get: s.url(ownTokenPath(clientId)) };
      fetched = await python([fetch, { ...fetch, post: true }, { ...fetch, scope: ['orders.read'] }]);
      for (const [i, r] of fetched.entries()) {
        const ctx = `step ${i}: ${JSON.stringify(r)}`;
        assert.equal(r.ok, true, ctx);
        assert.equal(r.authorized, true, ctx);
        assert.equal(String(r.token.token_type).toLowerCase(), 'bearer', ctx);
        assert.ok(Number.isInteger(r.token.expires_in) && r.token.expires_in > 0, ctx);
        assert.ok(r.token.expires_at > Date.now() / 1000, `requests-oauthlib computed expires_at: ${ctx}`);
        assert.equal(decodeJwt(r.token.access_token).header.alg, alg, ctx);
        assert.equal(r.call.status, 200, `GET with the session: ${ctx}`);
        assert.equal(r.call.json.clientId, clientId, ctx);
      }
    });

    test('PyJWKClient + jwt.decode verify the token with keygate\'s issuer and audience, and refuse a tampered one', async () => {
      assert.ok(fetched, 'the fetch test ran first');
      const token = fetched[0].token.access_token;
      const keys = (await jwks(s)).keys;
      assert.ok(keys.length >= 1, JSON.stringify(keys));
      for (const k of keys) assertAlgKey(k, alg);
      const verify = { op: 'verify', jwks_uri: s.meta.jwks_uri, token, algorithms: [alg], audience: s.issuer, issuer: s.issuer };
      const [ok, flipped, otherAud, otherIss] = await python([
        verify,
        { ...verify, token: flipSignature(token) },
        { ...verify, audience: 'https://api.elsewhere.example' },
        { ...verify, issuer: 'https://elsewhere.example' },
      ]);
      assert.equal(ok.ok, true, JSON.stringify(ok));
      assert.equal(ok.header.alg, alg);
      assert.equal(ok.header.typ, 'at+jwt');
      assert.equal(ok.key.kid, ok.header.kid, 'PyJWKClient picked the key by the token\'s kid');
      assert.equal(ok.key.kty, keys.find((k) => k.kid === ok.header.kid).kty);
      assert.equal(ok.key.use, 'sig');
      assert.equal(ok.claims.sub, s.user.clientId);
      assert.equal(ok.claims.client_id, s.user.clientId);
      assert.equal(ok.claims.iss, s.issuer);
      assert.equal(ok.claims.role, 'interop_client');
      assert.deepEqual({ ok: flipped.ok, error: flipped.error }, { ok: false, error: 'InvalidSignatureError' }, JSON.stringify(flipped));
      assert.deepEqual({ ok: otherAud.ok, error: otherAud.error }, { ok: false, error: 'InvalidAudienceError' }, JSON.stringify(otherAud));
      assert.deepEqual({ ok: otherIss.ok, error: otherIss.error }, { ok: false, error: 'InvalidIssuerError' }, JSON.stringify(otherIss));
    });

    test('requests-oauthlib: a wrong secret is InvalidClientError; a revoked API token\'s access token gets 401 and no new one', async () => {
      const t = await makeToken(s.srv.base, s.admin.access, s.roleId, 'revoked soon');
      const fetch = { op: 'fetch', token_url: s.meta.token_endpoint, client_id: t.clientId, client_secret: t.clientSecret };
      const [wrong, got] = await python([{ ...fetch, client_secret: h.wrongSecret(t.clientSecret) }, fetch]);
      assert.deepEqual({ ok: wrong.ok, error: wrong.error }, { ok: false, error: 'InvalidClientError' }, JSON.stringify(wrong));
      assert.equal(got.ok, true, JSON.stringify(got));
      const call = { op: 'call', access_token: got.token.access_token, get: s.url(ownTokenPath(t.clientId)) };
      const [before] = await python([call]);
      assert.equal(before.call.status, 200, JSON.stringify(before));
      await revokeApiToken(s, t.clientId);
      const [afterRevoke, refetch] = await python([call, fetch]);
      assert.equal(afterRevoke.call.status, 401, JSON.stringify(afterRevoke));
      assert.deepEqual({ ok: refetch.ok, error: refetch.error }, { ok: false, error: 'InvalidClientError' }, JSON.stringify(refetch));
    });
  });
}
