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

  // reported again, many times over in one report: the same answer, and nothing written (a
  // known leaked secret must cost no write, or reports of it would flood the store)
  const again = await report([...Array(50).fill({ token: t.clientSecret }), { token: stranger }]);
  assert.equal(again.status, 202, again.text);
  assert.deepEqual(again.json, { received: 51 });
  const relisted = await h.api(srv.base, 'GET', `${V1}/apiToken/${t.clientId}/secret`, { token: boot.access });
  assert.equal(relisted.json.result[0].revokedOn, listed.json.result[0].revokedOn, 'revoked once');
  const log2 = await h.api(srv.base, 'GET', `${V1}/auditLog?pageSize=100`, { token: boot.access });
  assert.equal(log2.json.result.filter((e) => e.action === 'apiToken.secret.reportLeaked').length, 1);
  assert.ok(!(srv.stdout + srv.stderr).includes(t.clientSecret), 'no secret in the server log');
});

test('where a secret was found is recorded only as short text: a long, broken or control-laden url leaves the audit log readable', async () => {
  for (const url of [`${'x'.repeat(159)}\u00e9`, 'line one\nline two\u001b[31m', 'y'.repeat(161)]) {
    const { t } = await tokenWithTwoSecrets();
    const r = await report([{ token: t.clientSecret, url }]);
    assert.equal(r.status, 202, r.text);
    const log = await h.api(srv.base, 'GET', `${V1}/auditLog?pageSize=100`, { token: boot.access });
    assert.equal(log.status, 200, `the audit log still reads: ${log.text.slice(0, 200)}`);
    const e = log.json.result.find((x) => x.action === 'apiToken.secret.reportLeaked' && x.target === t.clientId);
    assert.ok(e, JSON.stringify(log.json.result.slice(0, 3)));
    assert.match(e.detail, /^secret s-\d{10} reported leaked at /);
    if (Buffer.byteLength(url) <= 160 && !/[\u0000-\u001f]/.test(url)) assert.ok(e.detail.endsWith(url), e.detail);
    else assert.ok(e.detail.endsWith('(a place that is not short text)'), e.detail);
    const cli = h.cli(srv.db, ['audit', 'list', '--json', '--limit', '5']);
    assert.equal(cli.status, 0, cli.stderr);
    assert.ok(JSON.parse(cli.stdout).length > 0, 'the CLI reads it too');
  }
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
