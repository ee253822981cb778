'use strict';
// Access tokens whose JOSE header names an extension in "crit" are refused (RFC 7515
// §4.1.11): keygate understands none. The tokens here are signed with the server's own key
// (read from its key directory), so only the header can make them fail; the same header
// without "crit" is accepted, which shows the re-signing is right.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers');

const { V1 } = h;
let srv;
let boot;
let key;

test.before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv, 'jwt crit');
  const seed = fs.readFileSync(path.join(srv.dir, 'signing.key'));
  assert.equal(seed.length, 32, 'signing.key holds an Ed25519 seed');
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  key = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
});

test.after(async () => { if (srv) await srv.stop(); });

function resign(header) {
  const { payload } = h.decodeJwt(boot.access);
  const input = `${h.encodeJwtPart(header)}.${h.encodeJwtPart(payload)}`;
  return `${input}.${crypto.sign(null, Buffer.from(input), key).toString('base64url')}`;
}

async function introspect(token) {
  const r = await fetch(`${srv.base}/oauth/v2/introspect`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: h.basic(boot.clientId, boot.clientSecret) },
    body: `token=${encodeURIComponent(token)}`,
    signal: AbortSignal.timeout(10000),
  });
  assert.equal(r.status, 200, 'introspection answers 200');
  return (await r.json()).active;
}

test('a signed token carrying "crit" is refused by the API and reported inactive', async () => {
  const { header } = h.decodeJwt(boot.access);
  const plain = resign({ ...header, 'x-ext': 1 });
  assert.equal((await h.api(srv.base, 'GET', `${V1}/apiToken`, { token: plain })).status, 200,
    'the re-signed token without "crit" is accepted (an unknown non-critical member is ignored)');
  assert.equal(await introspect(plain), true);

  for (const crit of [['x-ext'], ['exp'], [], 'x-ext']) {
    const tok = resign({ ...header, crit, 'x-ext': 1 });
    h.assertUnauthenticated(await h.api(srv.base, 'GET', `${V1}/apiToken`, { token: tok }),
      `crit ${JSON.stringify(crit)}`);
    assert.equal(await introspect(tok), false, `introspection of a token with crit ${JSON.stringify(crit)}`);
  }
});
