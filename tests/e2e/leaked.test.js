'use strict';
// Revoke by possession (issue 18): POST /apiToken:reportLeaked takes secrets somebody found
// exposed, without credentials, in the shape of GitHub's secret-scanning partner program.  A
// real one is revoked, that secret alone; look-alikes, unknown and already revoked secrets
// change nothing; the answer is the same whichever were real; the audit log names the secret,
// the reporter's address and the URL; malformed reports are 400s; reports are throttled by
// address.

const { test, after, before } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const { V1 } = h;
let srv, boot;
before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv, 'leak tests');
});
after(async () => { await srv.stop(); });

const report = (body, raw) => h.api(srv.base, 'POST', `${V1}/apiToken:reportLeaked`,
  raw === undefined ? { body } : { raw, headers: { 'Content-Type': 'application/json' } });

async function tokenWithTwoSecrets() {
  const made = await h.api(srv.base, 'POST', `${V1}/apiToken`, { token: boot.access, body: { description: 'leaky', roleId: 'r-0000000002' } });
  assert.equal(made.status, 201, made.text);
  const second = await h.api(srv.base, 'POST', `${V1}/apiToken/${made.json.clientId}/secret`, { token: boot.access, body: {} });
  assert.equal(second.status, 201, second.text);
  return { t: made.json, second: second.json };
}

/* A secret with a correct checksum that no token has. */
function lookAlike() {
  const body = `kgs_${'Q'.repeat(26)}${Date.now().toString(36).padStart(6, '0').slice(-6)}`;
  return body + h.base62Crc(body);
}

test('a real secret is revoked alone; the answer is the same as for look-alikes and strangers', async () => {
  const { t, second } = await tokenWithTwoSecrets();
  const access = await h.accessToken(srv.base, t.clientId, t.clientSecret);
  const fake = `${t.clientSecret.slice(0, -1)}${t.clientSecret.endsWith('A') ? 'B' : 'A'}`; // checksum now wrong
  assert.ok(!h.secretChecksumOk(fake));
  const stranger = lookAlike();
  assert.ok(h.secretChecksumOk(stranger));

  const nothingReal = await report([{ token: fake, type: 'keygate_secret' }, { token: stranger }]);
  const real = await report([
    { token: t.clientSecret, type: 'keygate_secret', url: 'https://example.com/leak/1', source: 'content' },
    { token: stranger },
  ]);
  for (const r of [nothingReal, real]) {
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.json, { received: 2 });
  }
  assert.equal(real.text, nothingReal.text, 'the answer does not say which were real');

  h.assertOAuthError(await h.exchange(srv.base, t.clientId, t.clientSecret), 401, 'invalid_client', 'the leaked secret');
  h.assertUnauthenticated(await h.api(srv.base, 'GET', `${V1}/account`, { token: access }),
    'an access token issued with the leaked secret stops with it');
  const other = await h.exchange(srv.base, t.clientId, second.clientSecret);
  assert.equal(other.status, 200, `the token's other secret goes on: ${other.text}`);
  const listed = await h.api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}/secret`, { token: boot.access });
  assert.deepEqual(listed.json.result.map((s) => s.status), ['Revoked', 'Active']);
  assert.match(listed.json.result[0].revokedOn, h.TIME_RE);
  const tok = await h.api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}`, { token: boot.access });
  assert.equal(tok.json.status, 'Active', 'the token itself is not revoked');
  assert.equal(tok.json.secretCount, 1);

  const log = await h.api(srv.base, 'GET', `${V1}/auditLog?pageSize=100`, { token: boot.access });
  const entries = log.json.result.filter((e) => e.action === 'apiToken.secret.reportLeaked');
  assert.equal(entries.length, 1, 'one entry: the real secret; look-alikes and strangers write nothing');
  assert.deepEqual([entries[0].actor, entries[0].target, entries[0].sourceAddress, entries[0].outcome],
    ['', t.clientId, '127.0.0.1', 'OK']);
  assert.equal(entries[0].detail, `secret ${listed.json.result[0].secretId} reported leaked at https://example.com/leak/1`);
  assert.ok(!log.text.includes(t.clientSecret), 'no secret in the audit log');

  // reported again: the same answer; the secret stays revoked as it was, and the log records
  // the second report too (somebody keeps finding it)
  const again = await report([{ token: t.clientSecret }, { token: stranger }]);
  assert.equal(again.text, real.text);
  const relisted = await h.api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}/secret`, { token: boot.access });
  assert.equal(relisted.json.result[0].revokedOn, listed.json.result[0].revokedOn, 'revoked once');
  const log2 = await h.api(srv.base, 'GET', `${V1}/auditLog?pageSize=100`, { token: boot.access });
  const entries2 = log2.json.result.filter((e) => e.action === 'apiToken.secret.reportLeaked');
  assert.equal(entries2.length, 2);
  assert.equal(entries2[0].detail, `secret ${listed.json.result[0].secretId} reported leaked`);
  assert.ok(!(srv.stdout + srv.stderr).includes(t.clientSecret), 'no secret in the server log');
});

test('malformed reports are 400s that change nothing', async () => {
  const { t } = await tokenWithTwoSecrets();
  const cases = [
    [{ token: t.clientSecret }, undefined, 'an object, not an array'],
    [[], undefined, 'no report'],
    [Array.from({ length: 101 }, () => ({ token: lookAlike() })), undefined, 'more than 100'],
    [[{ token: t.clientSecret }, { type: 'keygate_secret' }], undefined, 'an item without a token'],
    [[{ token: 42 }], undefined, 'a token that is not a string'],
    [['kgs_x'], undefined, 'an item that is not an object'],
    [[{ token: 'x'.repeat(300) }], undefined, 'an over-long token'],
    [undefined, '[{"token":', 'not JSON'],
  ];
  for (const [body, raw, what] of cases) {
    h.assertApiError(await report(body, raw), 400, 'INVALID_ARGUMENT', what);
  }
  assert.equal((await h.exchange(srv.base, t.clientId, t.clientSecret)).status, 200,
    'a secret named in a refused report is not revoked');
});

test('reports are throttled by source address', async () => {
  let last;
  for (let i = 0; i < 110; i++) {
    last = await report([{ token: lookAlike() }]);
    if (last.status === 429) break;
  }
  assert.equal(last.status, 429, `a burst of reports from one address is slowed: ${last.text}`);
  assert.ok(Number(last.headers.get('retry-after')) >= 1, 'with Retry-After');
});
