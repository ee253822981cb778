// Go's golang.org/x/oauth2/clientcredentials (Debian's golang-golang-x-oauth2-dev, built with
// Debian's Go in GOPATH mode, no network) against keygate (issue 14): clientcredentials.Config
// fetches a token from the token endpoint the discovery document names, with each AuthStyle
// (header = client_secret_basic, params = client_secret_post, auto-detect), and the
// http.Client it makes calls the REST API with it.  x/oauth2 treats the access token as
// opaque, so it runs against a keygate for each signing algorithm (EdDSA, ES256, RS256).
// The program is goclient.go, built into build/interop/.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/interop/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALGS, algServer, buildGoClient, goClient, ownTokenPath, revokeApiToken } from './lib.mjs';
import { h, makeToken } from '../standards/lib.mjs';

const { decodeJwt } = h;

test('goclient.go builds with Debian\'s Go and x/oauth2, GOPATH mode, no network', async () => {
  await buildGoClient();
});

for (const alg of ALGS) {
  describe(`Go x/oauth2 clientcredentials against a keygate signing with ${alg}`, () => {
    let s;

    before(async () => { s = await algServer(alg); });
    after(async () => { if (s) await s.srv.stop(); });

    test('clientcredentials.Config fetches a token (header, params, auto-detect) and Config.Client calls the REST API with it', async () => {
      const { clientId, clientSecret } = s.user;
      const fetch = { op: 'fetch', token_url: s.meta.token_endpoint, client_id: clientId, client_secret: clientSecret, gets: [s.url(ownTokenPath(clientId))] };
      const results = await goClient(['header', 'params', 'auto'].map((auth_style) => ({ ...fetch, auth_style })));
      for (const [i, r] of results.entries()) {
        const ctx = `${['header', 'params', 'auto'][i]}: ${JSON.stringify(r)}`;
        assert.equal(r.ok, true, ctx);
        assert.equal(r.token.token_type, 'Bearer', ctx);
        assert.equal(r.token.valid, true, ctx);
        assert.ok(r.token.expiry_unix > Date.now() / 1000, `x/oauth2 computed an expiry in the future: ${ctx}`);
        assert.equal(r.token.scope, null, `no scope in the answer: ${ctx}`);
        const { header, payload } = decodeJwt(r.token.access_token);
        assert.equal(header.alg, alg, ctx);
        assert.equal(payload.sub, clientId, ctx);
        assert.equal(r.calls.length, 1, ctx);
        assert.equal(r.calls[0].status, 200, `GET with Config.Client: ${ctx}`);
        assert.equal(r.calls[0].json.clientId, clientId, ctx);
      }
    });

    test('a wrong secret is a RetrieveError 401 invalid_client; a revoked API token\'s token gets 401 and no new one', async () => {
      const t = await makeToken(s.srv.base, s.admin.access, s.roleId, 'revoked soon');
      const own = s.url(ownTokenPath(t.clientId));
      const fetch = { op: 'fetch', token_url: s.meta.token_endpoint, client_id: t.clientId, client_secret: t.clientSecret, auth_style: 'header', gets: [own] };
      const [wrong, got] = await goClient([{ ...fetch, client_secret: h.wrongSecret(t.clientSecret) }, fetch]);
      assert.equal(wrong.ok, false, JSON.stringify(wrong));
      assert.equal(wrong.status, 401, JSON.stringify(wrong));
      assert.equal(wrong.body.error, 'invalid_client', JSON.stringify(wrong));
      assert.equal(got.ok, true, JSON.stringify(got));
      assert.equal(got.calls[0].status, 200, JSON.stringify(got));
      await revokeApiToken(s, t.clientId);
      const [held, refetch] = await goClient([{ op: 'call', access_token: got.token.access_token, gets: [own] }, fetch]);
      assert.equal(held.calls[0].status, 401, `the held token through oauth2.NewClient: ${JSON.stringify(held)}`);
      assert.equal(refetch.ok, false, JSON.stringify(refetch));
      assert.equal(refetch.status, 401, JSON.stringify(refetch));
      assert.equal(refetch.body.error, 'invalid_client', JSON.stringify(refetch));
    });
  });
}
