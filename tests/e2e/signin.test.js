'use strict';
// The pane's server side: sign-in, throttling, the session cookie, CSRF on writes, sign-out,
// idle expiry, security headers, and the pages' redirects.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const { V1, api } = h;
let srv, password;

async function login(base, email, pw) {
  const r = await fetch(`${base}/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: pw }), signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: text ? JSON.parse(text) : null };
}

/* POST /login from a chosen loopback source address. */
function loginFrom(server, from, email, pw) {
  return h.postFrom(server.port, from, '/login', JSON.stringify({ email, password: pw }), { 'Content-Type': 'application/json' });
}

function cookieOf(res) {
  const c = res.headers.get('set-cookie');
  assert.ok(c, 'a Set-Cookie header');
  return c.split(';')[0];
}

async function session(base, cookie) {
  return api(base, 'GET', '/pane/session', { headers: { Cookie: cookie } });
}

before(async () => {
  srv = await h.startServer({ args: ['--session-idle', '3'] });
  password = h.adminPassword(srv);
});

after(async () => { if (srv) await srv.stop(); });

test('sign in, read the session, act with the CSRF token, sign out', async () => {
  const bad = await login(srv.base, 'admin@localhost', 'not-the-password');
  h.assertApiError(bad, 401, 'UNAUTHENTICATED', 'wrong password');
  assert.equal(bad.headers.get('set-cookie'), null, 'no cookie for a failed sign-in');

  const ok = await login(srv.base, 'ADMIN@localhost', password); // emails are case-insensitive
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.email, 'admin@localhost');
  const raw = ok.headers.get('set-cookie');
  assert.match(raw, /^kg_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
  const cookie = cookieOf(ok);

  const s = await session(srv.base, cookie);
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.email, 'admin@localhost');
  assert.match(s.json.csrfToken, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(s.json.privileges.ManageSecurity, true);
  assert.deepEqual(s.json.activeRoles.map((r) => r.roleName).sort(), ['accountadmin', 'public']);

  // Reads need only the cookie; writes need the CSRF token too.
  const list = await api(srv.base, 'GET', `${V1}/apiToken`, { headers: { Cookie: cookie } });
  assert.equal(list.status, 200, list.text);
  const body = { description: 'pane', roleId: 'r-0000000001' };
  h.assertApiError(await api(srv.base, 'POST', `${V1}/apiToken`, { headers: { Cookie: cookie }, body }),
    403, 'PERMISSION_DENIED', 'a write without the CSRF token');
  h.assertApiError(await api(srv.base, 'POST', `${V1}/apiToken`, { headers: { Cookie: cookie, 'X-CSRF-Token': 'x'.repeat(43) }, body }),
    403, 'PERMISSION_DENIED', 'a write with a wrong CSRF token');
  const made = await api(srv.base, 'POST', `${V1}/apiToken`, { headers: { Cookie: cookie, 'X-CSRF-Token': s.json.csrfToken }, body });
  assert.equal(made.status, 201, made.text);
  assert.equal(made.json.createdBy, s.json.userId, 'the token is created by the signed-in user');
  const after = (await api(srv.base, 'GET', `${V1}/apiToken`, { headers: { Cookie: cookie } })).json.result;
  assert.equal(after.length, list.json.result.length + 1, 'only the write with the token made a token');

  h.assertApiError(await api(srv.base, 'POST', '/logout', { headers: { Cookie: cookie } }), 403, 'PERMISSION_DENIED', 'logout without CSRF');
  const out = await fetch(`${srv.base}/logout`, { method: 'POST', headers: { Cookie: cookie, 'X-CSRF-Token': s.json.csrfToken } });
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie'), /^kg_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
  h.assertApiError(await session(srv.base, cookie), 401, 'UNAUTHENTICATED', 'the session after sign-out');
});

test('pages: signed out they redirect to /login; signed in they serve; security headers everywhere', async () => {
  for (const p of ['/api-auth-token', '/overview', '/roles', '/users', '/api-auth-token/kgc_abc']) {
    const r = await fetch(srv.base + p, { redirect: 'manual' });
    assert.equal(r.status, 302, p);
    assert.equal(r.headers.get('location'), `/login?next=${p}`);
  }
  /* A token's page: its {} part is the caller's text, so next= carries it percent-encoded. */
  const odd = await fetch(`${srv.base}/api-auth-token/a%0d%0aSet-Cookie%3d1%26b%20c?x=1`, { redirect: 'manual' });
  assert.equal(odd.status, 302);
  assert.equal(odd.headers.get('location'), '/login?next=/api-auth-token/a%0D%0ASet-Cookie%3D1%26b%20c');
  assert.equal(odd.headers.get('set-cookie'), null);
  const root = await fetch(`${srv.base}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/api-auth-token');
  const cookie = cookieOf(await login(srv.base, 'admin@localhost', password));
  for (const p of ['/login', '/api-auth-token', '/roles', '/users', '/healthz', '/nope']) {
    const r = await fetch(srv.base + p, { headers: { Cookie: cookie }, redirect: 'manual' });
    const csp = r.headers.get('content-security-policy') || '';
    assert.match(csp, /script-src 'self'/, `CSP on ${p}`);
    assert.match(csp, /frame-ancestors 'none'/, `CSP on ${p}`);
    assert.doesNotMatch(csp, /unsafe-inline/, `no unsafe-inline on ${p}`);
    assert.equal(r.headers.get('x-frame-options'), 'DENY', p);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer', p);
  }
  const page = await fetch(`${srv.base}/api-auth-token`, { headers: { Cookie: cookie } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.equal(page.headers.get('cache-control'), 'no-store');
  const asset = await fetch(`${srv.base}/assets/app.html`);
  assert.equal(asset.status, 404, 'pages are not served as assets');
  const missing = await fetch(`${srv.base}/assets/..%2Fkeygate.db`);
  assert.equal(missing.status, 404);
});

test('the pane\'s modules: every import app.js reaches is served as JavaScript, signed out too', async () => {
  const seen = new Set();
  const todo = ['app.js'];
  while (todo.length) {
    const name = todo.shift();
    if (seen.has(name)) continue;
    seen.add(name);
    const r = await fetch(`${srv.base}/assets/${name}`);
    assert.equal(r.status, 200, `/assets/${name}`);
    assert.match(r.headers.get('content-type'), /^text\/javascript/, name);
    assert.equal(r.headers.get('cache-control'), 'no-cache', name);
    const dir = name.includes('/') ? name.slice(0, name.lastIndexOf('/') + 1) : '';
    for (const m of (await r.text()).matchAll(/^import [^;]* from '(\.{1,2}\/[^']+)';$/gm))
      todo.push(new URL(m[1], `http://x/${dir}`).pathname.slice(1));
  }
  assert.ok(seen.has('lib/granted-roles.js') && seen.has('pages/users.js'), [...seen].join(' '));
  for (const p of ['lib/nope.js', 'pages/app.html', 'lib/api.js/x', '..%2Fapp.html'])
    assert.equal((await fetch(`${srv.base}/assets/${p}`)).status, 404, p);
});

test('a session idle longer than --session-idle ends', async () => {
  const cookie = cookieOf(await login(srv.base, 'admin@localhost', password));
  assert.equal((await session(srv.base, cookie)).status, 200);
  await h.sleep(3600);
  const r = await session(srv.base, cookie);
  h.assertApiError(r, 401, 'UNAUTHENTICATED', 'an idle session');
  assert.match(r.json.message, /expired/);
  const page = await fetch(`${srv.base}/api-auth-token`, { headers: { Cookie: cookie }, redirect: 'manual' });
  assert.equal(page.status, 302, 'the page sends an expired session to sign in');
});

test('sign-in input: bad bodies are 400, unknown users 401, nothing leaks', async () => {
  const r1 = await fetch(`${srv.base}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'email=a&password=b' });
  assert.equal(r1.status, 400, 'a form post is not a sign-in');
  const r2 = await login(srv.base, 'nobody@example.com', 'whatever-password');
  h.assertApiError(r2, 401, 'UNAUTHENTICATED');
  const r3 = await login(srv.base, 'x'.repeat(300) + '@example.com', 'p');
  h.assertApiError(r3, 400, 'INVALID_ARGUMENT');
  assert.doesNotMatch(srv.stderr, new RegExp(password), 'the admin password never reaches the log');
});

test('failed sign-ins are slowed per account at an address and per address (429 + Retry-After); the right password works after the wait', async () => {
  const t0 = Date.now();
  let last;
  for (let i = 0; i < 6; i++) last = await login(srv.base, 'admin@localhost', `wrong-${i}`);
  assert.equal(last.status, 429, `the 6th failure in a row is refused: ${last.status} ${last.text}`);
  assert.equal(last.json.status, 'RESOURCE_EXHAUSTED');
  const wait = Number(last.headers.get('retry-after'));
  assert.ok(wait >= 1 && wait <= 300, `Retry-After ${wait}`);
  const early = await login(srv.base, 'admin@localhost', password);
  assert.equal(early.status, 429, 'even the right password waits its turn');
  // The address failed as often, so another account from it waits as well.
  h.assertApiError(await login(srv.base, 'nobody@example.com', 'x-password'), 429, 'RESOURCE_EXHAUSTED', 'the same address, another account');
  await h.sleep(wait * 1000 + 300);
  const ok = await login(srv.base, 'admin@localhost', password);
  assert.equal(ok.status, 200, `after Retry-After the real user gets in: ${ok.text}`);
  assert.ok(Date.now() - t0 < 15000);

  // A success forgets the account's failures: one more mistake is a plain 401.
  h.assertApiError(await login(srv.base, 'admin@localhost', 'wrong-again'), 401, 'UNAUTHENTICATED');
});

test('a stranger hammering an email from other addresses does not stop its owner signing in', async () => {
  const own = await h.startServer();
  try {
    const boot = await h.bootstrap(own, 'signin');
    const email = 'owner@example.com', pw = 'owner-password-1';
    const made = await api(own.base, 'POST', `${V1}/user`, { token: boot.access, body: { email, password: pw } });
    assert.equal(made.status, 201, made.text);
    assert.equal((await loginFrom(own, '127.0.0.1', email, pw)).status, 200, 'the owner before the attack');

    // 20 addresses, 3 wrong passwords each, the owner signing in from home every 5th try.
    const ADDRS = 20, TRIES = 3;
    const counts = { 401: 0, 429: 0 };
    let owner = 0, ownerOk = 0, n = 0;
    const t0 = Date.now();
    for (let a = 1; a <= ADDRS; a++) {
      for (let i = 0; i < TRIES; i++) {
        const r = await loginFrom(own, `127.0.5.${a}`, email.toUpperCase(), `guess-${a}-${i}`);
        assert.ok(r.status === 401 || r.status === 429, `stranger try: ${r.status} ${r.text}`);
        if (r.status === 429) h.assertApiError(r, 429, 'RESOURCE_EXHAUSTED', 'a refused guess');
        counts[r.status]++;
        if (++n % 5 === 0) {
          owner++;
          const ok = await loginFrom(own, '127.0.0.1', email, pw);
          if (ok.status === 200) ownerOk++;
          else assert.fail(`the owner's sign-in during the attack: ${ok.status} ${ok.text}`);
        }
      }
    }
    assert.equal(ownerOk, owner, 'the owner signed in every time');
    assert.ok(Date.now() - t0 < 60000);
    // The account is slowed for the addresses that failed it: once it has had its 10 free
    // failures, each stranger address gets at most its first guess checked.
    assert.ok(counts[401] <= 10 + ADDRS, `guesses checked: ${counts[401]} of ${ADDRS * TRIES}`);
    assert.ok(counts[429] >= ADDRS * TRIES - 10 - ADDRS, `guesses refused: ${counts[429]}`);
    // Even with the right password, a stranger address waits…
    h.assertApiError(await loginFrom(own, '127.0.5.1', email, pw), 429, 'RESOURCE_EXHAUSTED', 'an address that failed the account');
    // …while the owner, after a typo at home, and from an address never used before, gets in.
    h.assertApiError(await loginFrom(own, '127.0.0.1', email, 'typo'), 401, 'UNAUTHENTICATED', 'the owner mistyping');
    assert.equal((await loginFrom(own, '127.0.0.1', email, pw)).status, 200, 'the owner after a typo at home');
    assert.equal((await loginFrom(own, '127.0.5.200', email, pw)).status, 200, 'the owner from a new address');
    console.log(`# sign-in attack: ${ADDRS} addresses x ${TRIES} guesses: ${counts[401]} checked, ${counts[429]} refused; the owner signed in ${ownerOk}/${owner}`);
  } finally {
    await own.stop();
  }
});
