// nginx auth_request in front of an API, keygate's /gate deciding (issue 14): Debian's nginx
// on examples/nginx.conf as shipped (only the addresses changed), keygate started as that
// file's comment says (examples/policy.txt, --gate-headers original, --trusted-proxy), a
// recording upstream, and curl as the caller.  The token is fetched through nginx too.  nginx
// never reads the token itself: keygate's /gate verifies it, so this runs against a keygate
// for each signing algorithm (EdDSA, ES256, RS256) to show the gate takes every one.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/interop/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALGS, algServer, revokeApiToken } from './lib.mjs';
import { h, flipSignature, makeToken } from '../standards/lib.mjs';
import { EXAMPLES, curl, startExampleNginx, startUpstream } from '../standards/proxies.mjs';

const { basic, decodeJwt } = h;

/* client_credentials through nginx's /oauth/ location; returns curl's answer. */
function tokenThrough(url, t) {
  return curl(url('/oauth/v2/token'), {
    method: 'POST', headers: { Authorization: basic(t.clientId, t.clientSecret) },
    data: 'grant_type=client_credentials', contentType: 'application/x-www-form-urlencoded',
  });
}

for (const alg of ALGS) {
  describe(`nginx auth_request (examples/nginx.conf) against a keygate signing with ${alg}`, () => {
    let dir;
    let s;
    let up;
    let ngx;
    let access; // s.user's access token, fetched through nginx

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-interop-nginx-'));
      s = await algServer(alg, {
        args: ['--policy', path.join(EXAMPLES, 'policy.txt'), '--gate-headers', 'original', '--trusted-proxy', '127.0.0.1'],
        roleName: 'orders_reader', privileges: ['orders.read'],
      });
      up = await startUpstream();
      ngx = await startExampleNginx(path.join(dir, 'nginx'), s.srv.port, up.port);
    });

    after(async () => {
      try { if (ngx) await ngx.stop(); } catch { /* keep going */ }
      try { if (up) await up.close(); } catch { /* keep going */ }
      try { if (s) await s.srv.stop(); } catch { /* keep going */ }
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('a token fetched through nginx opens an allowed route; the upstream learns the client id and role', async () => {
      const r = await tokenThrough(ngx.url, s.user);
      assert.equal(r.status, 200, `token through nginx: ${r.status} ${r.body}`);
      access = r.json.access_token;
      assert.equal(decodeJwt(access).header.alg, alg);
      const n = up.hits.length;
      const ok = await curl(ngx.url('/api/orders/7/items'), { token: access });
      assert.equal(ok.status, 200, `GET /api/orders/7/items: ${ok.status} ${ok.body}\n${ngx.errorLog()}`);
      assert.equal(ok.json.upstream, true);
      assert.equal(ok.json.clientId, s.user.clientId);
      assert.equal(ok.json.role, 'orders_reader');
      assert.equal(up.hits.length, n + 1);
    });

    test('a flipped signature or no token gets 401 with keygate\'s challenge, a route the role lacks 403; the upstream sees none', async () => {
      assert.ok(access, 'the token test ran first');
      const n = up.hits.length;
      for (const [what, token] of [['flipped signature', flipSignature(access)], ['no token', undefined]]) {
        const r = await curl(ngx.url('/api/orders/7'), { token });
        assert.equal(r.status, 401, `${what}: ${r.status} ${r.body}`);
        assert.match(r.headers['www-authenticate'] || '', /^Bearer\b.*error="invalid_token"/, what);
      }
      const denied = await curl(ngx.url('/api/orders'), { method: 'POST', token: access, data: '{}' });
      assert.equal(denied.status, 403, `POST /api/orders without orders.write: ${denied.status} ${denied.body}`);
      assert.equal(up.hits.length, n, 'no refused request reached the upstream');
    });

    test('a revoked API token: its access token gets 401 at nginx at once', async () => {
      const t = await makeToken(s.srv.base, s.admin.access, s.roleId, 'revoked soon');
      const tok = (await tokenThrough(ngx.url, t)).json.access_token;
      assert.equal((await curl(ngx.url('/api/orders'), { token: tok })).status, 200);
      await revokeApiToken(s, t.clientId);
      const r = await curl(ngx.url('/api/orders'), { token: tok });
      assert.equal(r.status, 401, `after the revoke: ${r.status} ${r.body}`);
      assert.match(r.headers['www-authenticate'] || '', /error="invalid_token"/);
    });
  });
}
