'use strict';
// An upgrade (issue 18): today's keygate started on a database that keygate 0.16 made (schema
// 5, one secret per token; tests/fixtures/v0.16/, its keys beside it).  The secrets made before
// the upgrade still exchange, each now a secret of its own (s-…, prefix kgs_ alone: only its
// hash was kept); the revoked token stays revoked; a rotation works on an upgraded token; and
// a second start on the upgraded database changes nothing.  The fixture is copied first: it is
// never written to.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers.js');

const { V1, api } = h;
const FIXTURE = path.resolve(__dirname, '../fixtures/v0.16');
const SECRET_ID_RE = /^s-\d{10}$/;

const made = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'tokens.json'), 'utf8'));
const active = made.filter((t) => t.status === 'Active');
const revoked = made.filter((t) => t.status === 'Revoked');

let dir;
let srv;
let boot;

const call = (method, p, body) => api(srv.base, method, `${V1}${p}`, { token: boot.access, body });

/* Starts today's keygate on the copy (database and keys in dir) with an accountadmin token. */
async function start() {
  srv = await h.startServer({ dir });
  boot = await h.bootstrap(srv, 'after the upgrade');
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-upgrade-'));
  for (const f of ['keygate.db', 'hash.key', 'signing.key']) {
    fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
    fs.chmodSync(path.join(dir, f), 0o600);
  }
  await start();
});

after(async () => {
  try {
    if (srv) await srv.stop();
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function secrets(clientId) {
  const r = await call('GET', `/apiToken/${clientId}/secret`);
  assert.equal(r.status, 200, `GET …/secret of ${clientId}: ${r.status} ${r.text}`);
  return r.json.result;
}

test('the fixture is what its README says: three tokens of 0.16, the second revoked', () => {
  assert.equal(made.length, 3);
  assert.deepEqual(made.map((t) => t.status), ['Active', 'Revoked', 'Active']);
  for (const t of made) {
    assert.match(t.clientId, h.CLIENT_ID_RE);
    assert.ok(h.secretChecksumOk(t.clientSecret), t.clientSecret);
  }
});

test('the tokens made by 0.16 are there, as they were', async () => {
  for (const t of made) {
    const r = await call('GET', `/apiToken/${t.clientId}`);
    assert.equal(r.status, 200, `GET /apiToken/${t.clientId}: ${r.text}`);
    h.assertTokenShape(r.json);
    assert.equal(r.json.status, t.status, t.clientId);
    assert.equal(r.json.description, t.description, t.clientId);
  }
});

test('each Active token\'s secret from 0.16 exchanges, and the answer names its secret', async () => {
  for (const t of active) {
    const r = await h.exchange(srv.base, t.clientId, t.clientSecret);
    assert.equal(r.status, 200, `exchange for ${t.clientId} (${t.description}): ${r.status} ${r.text}`);
    assert.match(r.json.secret_id, SECRET_ID_RE, r.text);
    assert.equal(h.decodeJwt(r.json.access_token).payload.secret_id, r.json.secret_id);
    assert.equal(h.decodeJwt(r.json.access_token).payload.sub, t.clientId);
    const me = await api(srv.base, 'GET', `${V1}/account`, { token: r.json.access_token });
    assert.equal(me.status, 200, `the access token works: ${me.text}`);
  }
});

test('the token revoked in 0.16 stays revoked: 401 invalid_client', async () => {
  for (const t of revoked) {
    h.assertOAuthError(await h.exchange(srv.base, t.clientId, t.clientSecret), 401, 'invalid_client', t.description);
  }
});

test('each token lists one secret, with the prefix kgs_ alone (only its hash was kept)', async () => {
  for (const t of made) {
    const listed = await secrets(t.clientId);
    assert.equal(listed.length, 1, `${t.description}: ${JSON.stringify(listed)}`);
    const [s] = listed;
    assert.equal(s.clientId, t.clientId);
    assert.match(s.secretId, SECRET_ID_RE);
    assert.equal(s.secretPrefix, 'kgs_', JSON.stringify(s));
    assert.equal(s.description, '');
    assert.equal(s.expiresOn, null, 'a secret of 0.16 had no expiry of its own');
    assert.equal(s.revokedOn, null);
    if (t.status === 'Active') {
      assert.equal(s.status, 'Active', JSON.stringify(s));
      assert.notEqual(s.lastUsedOn, null, 'used by the exchange above');
    }
  }
});

test('a rotation works on an upgraded token: the new secret exchanges, the old one stops', async () => {
  const [t] = active;
  const [old] = await secrets(t.clientId);
  const r = await call('POST', `/apiToken/${t.clientId}:rotate`, { gracePeriodSeconds: 0, description: 'after 0.16' });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.clientSecret, h.SECRET_RE);
  assert.equal(r.json.secretPrefix, r.json.clientSecret.slice(0, 8));
  assert.notEqual(r.json.secretId, old.secretId);

  const ex = await h.exchange(srv.base, t.clientId, r.json.clientSecret);
  assert.equal(ex.status, 200, ex.text);
  assert.equal(ex.json.secret_id, r.json.secretId);
  h.assertOAuthError(await h.exchange(srv.base, t.clientId, t.clientSecret), 401, 'invalid_client', 'the 0.16 secret after a rotation with no grace');

  const listed = await secrets(t.clientId);
  assert.deepEqual(listed.map((s) => [s.secretId, s.secretPrefix, s.status]),
    [[old.secretId, 'kgs_', 'Expired'], [r.json.secretId, r.json.secretPrefix, 'Active']]);

  // the other upgraded token is untouched
  const other = active[1];
  const ok = await h.exchange(srv.base, other.clientId, other.clientSecret);
  assert.equal(ok.status, 200, ok.text);
});

// (Whether a secret's last use survives a restart: secrets.test.js.)
test('a second start on the upgraded database: the same secrets, as they were', async () => {
  const before = {};
  for (const t of made) before[t.clientId] = await secrets(t.clientId);
  await srv.stop();
  srv = null;
  await start();
  for (const t of made) {
    const now = await secrets(t.clientId);
    assert.deepEqual(now.map((s) => [s.secretId, s.secretPrefix, s.description, s.status, s.createdOn, s.expiresOn]),
      before[t.clientId].map((s) => [s.secretId, s.secretPrefix, s.description, s.status, s.createdOn, s.expiresOn]), t.description);
  }
  const other = active[1];
  const ok = await h.exchange(srv.base, other.clientId, other.clientSecret);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.secret_id, before[other.clientId][0].secretId);
  h.assertOAuthError(await h.exchange(srv.base, revoked[0].clientId, revoked[0].clientSecret), 401, 'invalid_client');
});
