'use strict';
// Brute force on client authentication: /oauth/v2/token, /oauth/v2/introspect and
// /oauth/v2/revoke are slowed per client ID (after 10 failures) and per source address (after
// 30) — 429 + Retry-After, the OAuth error form — while the real client keeps working; and
// pane sign-ins are counted apart, so neither kind of failure slows the other at one address.  The attackers
// come from other loopback addresses (127.0.0.2 …: Linux routes all of 127/8 to lo), so the
// server tells them apart from the real client on 127.0.0.1.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const FREE_ID = 10; // failures allowed before slowing (CLIENT_AUTH_FREE_ID in src/http/oauth.c)
const FREE_ADDR = 30; // (CLIENT_AUTH_FREE_ADDR)
let srv, boot, victim, other;

/* POST a form to an /oauth endpoint (or, with a JSON content type, anything) from a chosen
 * loopback source address. */
function post(from, p, form, authorization, contentType = 'application/x-www-form-urlencoded') {
  return h.postFrom(srv.port, from, p, form, { 'Content-Type': contentType, ...(authorization ? { Authorization: authorization } : {}) });
}

const exchangeFrom = (from, id, secret) =>
  post(from, '/oauth/v2/token', 'grant_type=client_credentials', h.basic(id, secret));
const loginFrom = (from, email, password) =>
  post(from, '/login', JSON.stringify({ email, password }), null, 'application/json');

function assertThrottled(res, what) {
  assert.equal(res.status, 429, `${what}: expected 429, got ${res.status} ${res.text}`);
  assert.equal(res.json && res.json.error, 'temporarily_unavailable', `${what}: OAuth error form`);
  assert.match(res.json.error_description, /too many failed client authentications/, what);
  const wait = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 300, `${what}: Retry-After ${res.headers.get('retry-after')}`);
  return wait;
}

before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv, 'bruteforce');
  const mk = async (d) => {
    const r = await h.api(srv.base, 'POST', `${h.V1}/apiToken`, { token: boot.access, body: { description: d, roleId: 'r-0000000001' } });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  victim = await mk('victim');
  other = await mk('other');
  // The real clients have worked from 127.0.0.1 before the attack.
  assert.equal((await exchangeFrom('127.0.0.1', victim.clientId, victim.clientSecret)).status, 200);
  assert.equal((await exchangeFrom('127.0.0.1', other.clientId, other.clientSecret)).status, 200);
});

after(async () => { if (srv) await srv.stop(); });

test('hammering wrong secrets from one address: 401 thirty times, then 429 with Retry-After; the real client keeps working', async () => {
  // Wrong secrets for many client IDs (so that no single ID reaches its own limit first),
  // then for the victim: the address's limit.
  const wrong = h.wrongSecret(victim.clientSecret);
  for (let i = 0; i < FREE_ADDR; i++) {
    const id = i < FREE_ADDR - 1 ? `kgc_bruteforce${String(i).padStart(6, '0')}` : victim.clientId;
    h.assertOAuthError(await exchangeFrom('127.0.0.2', id, wrong), 401, 'invalid_client', `failure ${i + 1}`);
  }
  // Hammer for 1.5 s (at most 3,000 tries), the real client exchanging every 25th try.
  const counts = { 401: 0, 429: 0, other: 0 };
  let real = 0, realOk = 0, tries = 0, lastWait = 0, lastThrottledAt = 0;
  const deadline = Date.now() + 1500;
  while (Date.now() < deadline && tries < 3000) {
    const r = await exchangeFrom('127.0.0.2', victim.clientId, wrong);
    tries++;
    if (r.status === 429) {
      lastWait = assertThrottled(r, `try ${tries}`);
      lastThrottledAt = Date.now();
    }
    else if (r.status === 401) h.assertOAuthError(r, 401, 'invalid_client', `try ${tries}`);
    counts[r.status === 429 || r.status === 401 ? r.status : 'other']++;
    if (tries % 25 === 0) {
      real++;
      const ok = await exchangeFrom('127.0.0.1', victim.clientId, victim.clientSecret);
      if (ok.status === 200) realOk++;
    }
  }
  assert.equal(counts.other, 0, 'only 401 and 429 answers');
  // The first wait is 1 s and each failure after it doubles it: in 1.5 s at most two more
  // secrets are checked, however fast the tries come.
  assert.ok(counts[401] <= 2, `secret checks during the hammering: ${counts[401]} of ${tries}`);
  assert.ok(counts[429] >= 10, `429 answers: ${counts[429]} of ${tries}`);
  assert.equal(realOk, real, `the real client during the attack: ${realOk}/${real} exchanges`);

  // The address is slowed for every client ID, and for introspection and revocation too.
  assertThrottled(await exchangeFrom('127.0.0.2', other.clientId, other.clientSecret), 'another client from the attacking address');
  assertThrottled(await post('127.0.0.2', '/oauth/v2/introspect', `token=${boot.access}`, h.basic(other.clientId, 'kgs_wrong')), 'introspection from the attacking address');
  assertThrottled(await post('127.0.0.2', '/oauth/v2/revoke', `token=${boot.access}`, h.basic(other.clientId, 'kgs_wrong')), 'revocation from the attacking address');
  // Other clients, from their usual address, are served, introspection included.
  assert.equal((await exchangeFrom('127.0.0.1', other.clientId, other.clientSecret)).status, 200, 'another client during the attack');
  const intro = await post('127.0.0.1', '/oauth/v2/introspect', `token=${boot.access}`, h.basic(other.clientId, other.clientSecret));
  assert.equal(intro.status, 200, intro.text);
  assert.equal(intro.json.active, true);

  // The wait runs out: after Retry-After the address may authenticate again.
  assert.ok(lastWait <= 4, `a short wait after ${counts[401]} extra failures: ${lastWait} s`);
  await h.sleep(Math.max(0, lastThrottledAt + lastWait * 1000 + 200 - Date.now()));
  const after = await exchangeFrom('127.0.0.2', other.clientId, other.clientSecret);
  assert.equal(after.status, 200, `after Retry-After (${lastWait} s), a right secret from that address: ${after.status} ${after.text}`);
  console.log(`# brute force: ${FREE_ADDR} failures answered 401; then ${tries} tries in 1.5 s: ${counts[401]} checked (401), ${counts[429]} refused (429, last Retry-After ${lastWait} s); the real client served ${realOk}/${real}`);
});

test('a client ID hammered from many addresses is slowed for new addresses, not for the one it always uses', async () => {
  const wrong = h.wrongSecret(other.clientSecret);
  // One failure each from many addresses: no address reaches its own limit…
  for (let i = 0; i < FREE_ID; i++) {
    h.assertOAuthError(await exchangeFrom(`127.0.1.${i + 1}`, other.clientId, wrong), 401, 'invalid_client', `distributed failure ${i + 1}`);
  }
  // …but the client ID has: a further try from yet another address waits, even with the right secret.
  assertThrottled(await exchangeFrom('127.0.2.1', other.clientId, wrong), 'wrong secret from a new address');
  assertThrottled(await exchangeFrom('127.0.2.2', other.clientId, other.clientSecret), 'right secret from an address the client never used');
  // The client's own address is not slowed.
  assert.equal((await exchangeFrom('127.0.0.1', other.clientId, other.clientSecret)).status, 200, 'the real client from its usual address');
  // An unrelated client from a fresh address is not affected.
  const fresh = await h.api(srv.base, 'POST', `${h.V1}/apiToken`, { token: boot.access, body: { description: 'fresh', roleId: 'r-0000000001' } });
  assert.equal(fresh.status, 201, fresh.text);
  assert.equal((await exchangeFrom('127.0.3.1', fresh.json.clientId, fresh.json.clientSecret)).status, 200, 'an unrelated client from a new address');
});

/* A pane user for the tests below (the REST API, with the bootstrap token). */
async function user(email, password) {
  const made = await h.api(srv.base, 'POST', `${h.V1}/user`, { token: boot.access, body: { email, password } });
  assert.equal(made.status, 201, made.text);
}

async function client(description) {
  const r = await h.api(srv.base, 'POST', `${h.V1}/apiToken`, { token: boot.access, body: { description, roleId: 'r-0000000001' } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

test('failed sign-ins from an address do not slow a client authenticating there', async () => {
  await user('pat@example.com', 'pat-password-1');
  const c = await client('shared address 1');
  // Wrong passwords from 127.0.4.1 until the pane refuses that address…
  let last;
  for (let i = 0; i < 6; i++) last = await loginFrom('127.0.4.1', 'pat@example.com', `wrong-${i}`);
  h.assertApiError(last, 429, 'RESOURCE_EXHAUSTED', 'the 6th failed sign-in from 127.0.4.1');
  // …and a client that never authenticated from there before still gets its token there, then
  // introspects with it.
  const ex = await exchangeFrom('127.0.4.1', c.clientId, c.clientSecret);
  assert.equal(ex.status, 200, `a client's right secret from an address with failed sign-ins: ${ex.status} ${ex.text}`);
  const intro = await post('127.0.4.1', '/oauth/v2/introspect', `token=${ex.json.access_token}`, h.basic(c.clientId, c.clientSecret));
  assert.equal(intro.status, 200, intro.text);
  // The sign-in refusal itself stands.
  h.assertApiError(await loginFrom('127.0.4.1', 'pat@example.com', 'pat-password-1'), 429, 'RESOURCE_EXHAUSTED', 'the right password from 127.0.4.1, still waiting');
});

test('failed client authentications from an address do not slow a sign-in there', async () => {
  await user('quinn@example.com', 'quinn-password-1');
  const c = await client('shared address 2');
  // Failed client authentications from 127.0.4.2 until that address is slowed…
  for (let i = 0; i < FREE_ADDR; i++) {
    const id = `kgc_sharedaddr${String(i).padStart(6, '0')}`;
    h.assertOAuthError(await exchangeFrom('127.0.4.2', id, 'kgs_wrong'), 401, 'invalid_client', `client failure ${i + 1}`);
  }
  assertThrottled(await exchangeFrom('127.0.4.2', c.clientId, c.clientSecret), 'a client new to 127.0.4.2 after 30 failures there');
  // …and a person signs in there at once with the right password.
  const ok = await loginFrom('127.0.4.2', 'quinn@example.com', 'quinn-password-1');
  assert.equal(ok.status, 200, `sign-in from an address with failed client authentications: ${ok.status} ${ok.text}`);
  assert.equal(ok.json.email, 'quinn@example.com');
});
