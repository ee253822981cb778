'use strict';
// Usage pictures and usage controls in the web pane (issue 19): the token list's sparklines,
// a token's own page (usage chart, range picker, totals, the rate-limit and address editor)
// and the Overview, in Debian's chromium against the real keygate binary on 127.0.0.1.  The
// usage is real: the test exchanges tokens, asks the gate with and without the privilege and
// past a rate limit, and calls the API with an access token, then reads what the pane shows.
//
//   KEYGATE_BIN=build/keygate node --test --test-concurrency=1 tests/browser/usage.test.js
//
// Screenshots go to build/screenshots/ (usage-list.png, usage-detail.png, usage-detail-30d.png,
// usage-controls.png, usage-overview.png).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const b = require('./helpers.js');

const { h } = b;
const { V1 } = h;
const T = { timeout: 90000 };
const DAY = 86400000;
const HOUR = 3600000;
/* Counts reach the store in batches; a short interval so that the test need not wait. */
const FLUSH_ARGS = ['--usage-flush-ms', '200'];

let browser;
let srv;
let dir;
const admin = { email: 'usage-admin@example.com' };
let adminRole;
let readerRole;
/* The tokens: busy (allowed mostly, one refused for privilege), limited (past its rate limit),
 * caller (API calls only), idle (nothing). */
const tok = {};
/* What the test did with each token, as the usage counts should say. */
const did = {};

before(async () => {
  dir = b.freshDir();
  const db = b.dbOf(dir);
  admin.password = b.createUser(db, admin.email, 'accountadmin');
  adminRole = b.roleId(db, 'accountadmin');
  b.cliOk(db, ['role', 'create', 'orders_reader', '--description', 'reads orders']);
  b.cliOk(db, ['role', 'grant-privilege', 'orders_reader', 'orders.read']);
  readerRole = b.roleId(db, 'orders_reader');
  const policy = path.join(dir, 'policy.txt');
  fs.writeFileSync(policy, 'GET /api/orders/* orders.read\nPOST /api/orders orders.write\n');
  srv = await h.startServer({ dir, args: ['--policy', policy, ...FLUSH_ARGS] });
  browser = await b.launchBrowser();
  await makeUsage();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/* Runs fn({context, page, w}) signed in as the admin, in a fresh context closed afterwards,
 * tall enough for a token's whole page in a screenshot (a full-page shot would leave the
 * sidebar, sticky at the window's height, halfway down). */
const signedIn = (fn, landing) => b.withPage(browser, srv.base, admin, fn, { viewport: { width: 1280, height: 1560 } }, landing);
const call = b.pageCall;

function zero() {
  return { exchanges: 0, gateAllowed: 0, apiCalls: 0, refusedPrivilege: 0, refusedRateLimit: 0, refusedAddress: 0,
    refusedExpired: 0 };
}
function requestsOf(c) {
  return Object.values(c).reduce((a, v) => a + v, 0);
}
function refusedOf(c) {
  return c.refusedPrivilege + c.refusedRateLimit + c.refusedAddress + c.refusedExpired;
}

async function exchange(t) {
  const r = await fetch(`${srv.base}/oauth/v2/token`, {
    method: 'POST',
    headers: { Authorization: h.basic(t.clientId, t.clientSecret), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
    signal: AbortSignal.timeout(10000),
  });
  const json = await r.json();
  assert.equal(r.status, 200, `exchange for ${t.clientId}: ${JSON.stringify(json)}`);
  did[t.clientId].exchanges += 1;
  return json.access_token;
}

async function gate(method, uri, access) {
  const r = await fetch(`${srv.base}/gate`, {
    headers: { 'X-Original-Method': method, 'X-Original-URI': uri, Authorization: `Bearer ${access}` },
    signal: AbortSignal.timeout(10000),
  });
  await r.arrayBuffer();
  return r.status;
}

/* Tokens made and used as programs would use them; `did` keeps the tally. */
async function makeUsage() {
  await signedIn(async ({ page }) => {
    const make = async (name, roleId, extra = {}) => {
      tok[name] = (await call(page, 'POST', `${V1}/apiToken`, { description: `usage ${name}`, roleId, ...extra }, 201)).json;
      did[tok[name].clientId] = zero();
    };
    await make('idle', readerRole);
    await make('caller', adminRole);
    await make('limited', readerRole, { rateLimit: { requests: 3, periodSeconds: 3600 } });
    await make('busy', readerRole);
  });
  /* busy: 2 exchanges, 6 gate checks allowed (204), 1 refused (no orders.write). */
  const busy = did[tok.busy.clientId];
  let access = await exchange(tok.busy);
  access = await exchange(tok.busy);
  for (let i = 0; i < 6; i++) assert.equal(await gate('GET', `/api/orders/${i}`, access), 204);
  assert.equal(await gate('POST', '/api/orders', access), 403);
  busy.gateAllowed += 6;
  busy.refusedPrivilege += 1;
  /* limited: 3 checks an hour; 7 asked, the ones past the limit answered 429. */
  const limited = did[tok.limited.clientId];
  access = await exchange(tok.limited);
  for (let i = 0; i < 7; i++) {
    const st = await gate('GET', `/api/orders/${i}`, access);
    assert.ok(st === 204 || st === 429, `gate past a rate limit: ${st}`);
    if (st === 204) limited.gateAllowed += 1;
    else limited.refusedRateLimit += 1;
  }
  assert.ok(limited.refusedRateLimit >= 4, `at most 3 of 7 allowed: ${JSON.stringify(limited)}`);
  /* caller: 2 API calls with its access token. */
  access = await exchange(tok.caller);
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${srv.base}${V1}/account`, { headers: { Authorization: `Bearer ${access}` },
      signal: AbortSignal.timeout(10000) });
    await r.arrayBuffer();
    assert.equal(r.status, 200);
    did[tok.caller.clientId].apiCalls += 1;
  }
  /* Until the counts are in the store (a flush or two). */
  await signedIn(async ({ page }) => {
    const ids = Object.keys(did);
    let last;
    const ok = await h.waitFor(async () => {
      const since = new Date(Date.now() - DAY).toISOString();
      last = (await call(page, 'GET', `${V1}/usage?clientIds=${ids.join(',')}&since=${since}`, undefined, 200)).json;
      return last.result.every((r) => requestsOf(did[r.clientId]) === r.requests);
    }, 15000, 200);
    assert.ok(ok.ok !== false && last.result.every((r) => requestsOf(did[r.clientId]) === r.requests),
      `usage counts in the store: ${JSON.stringify(last)} want ${JSON.stringify(did)}`);
  });
}

const rowOf = (page, clientId) => page.locator(`[data-testid="token-row"][data-client-id="${clientId}"]`);
const legendTotal = (page, key) => page.locator(`[data-testid="legend-item"][data-series="${key}"]`).getAttribute('data-total');
const num = (n) => n.toLocaleString('en-US');

test('1. the token list: a sparkline of the last 7 days a row, from one request, after the rows', T, async () => {
  await signedIn(async ({ page, w }) => {
    /* Hold the sparklines' request: the rows must not wait for it. */
    const asked = [];
    let release;
    const held = new Promise((r) => { release = r; });
    page.on('request', (r) => { if (new URL(r.url()).pathname === `${V1}/usage`) asked.push(new URL(r.url())); });
    await page.route(`**${V1}/usage?**`, async (route) => { await held; await route.continue(); });
    await page.goto('/api-auth-token');
    await rowOf(page, tok.busy.clientId).waitFor();
    assert.equal(await page.getByTestId('token-row').count(), 4, 'every row drawn while the usage is still being read');
    assert.equal(await page.locator('[data-testid="row-usage"][data-loaded="true"]').count(), 0);
    release();
    await page.locator('[data-testid="row-usage"][data-loaded="true"]').nth(3).waitFor();
    assert.equal(asked.length, 1, 'one usage request for the page');
    const q = asked[0].searchParams;
    assert.equal(q.get('granularity'), 'day');
    assert.deepEqual(q.get('clientIds').split(',').sort(), Object.keys(did).sort(), 'the page\u2019s tokens');
    const since = Date.parse(q.get('since'));
    assert.ok(Date.now() - since <= 7 * DAY && Date.now() - since > 6 * DAY, `since 7 UTC days back: ${q.get('since')}`);
    for (const [name, t] of Object.entries(tok)) {
      const c = did[t.clientId];
      const spark = rowOf(page, t.clientId).getByTestId('sparkline');
      const n = requestsOf(c);
      assert.equal(await spark.getAttribute('aria-label'),
        `Last 7 days: ${num(n)} ${n === 1 ? 'request' : 'requests'}, ${num(refusedOf(c))} refused`, `${name}: the sparkline says`);
      const title = await spark.locator('title').textContent();
      assert.equal(title.split('\n').length, 1 + 7, `${name}: a line a day in the tooltip`);
      assert.match(title.split('\n')[7], new RegExp(`: ${num(n)} \\(${num(refusedOf(c))} refused\\)$`), `${name}: today\u2019s numbers`);
      assert.equal(await rowOf(page, t.clientId).locator('a.spark-link').getAttribute('href'), `/api-auth-token/${t.clientId}`);
    }
    await page.mouse.move(0, 0);
    await b.shot(page, 'usage-list.png');
    /* The row's Client ID opens the token's page. */
    await rowOf(page, tok.busy.clientId).getByTestId('token-link').click();
    await page.waitForURL((u) => new URL(u).pathname === `/api-auth-token/${tok.busy.clientId}`);
    await page.getByTestId('usage-chart').waitFor();
    b.assertClean(w, { strict: true });
  });
});

/* Opens a token's page at ?range=… and returns the usage answer the page drew. */
async function openDetail(page, clientId, range) {
  const resp = page.waitForResponse((r) => new URL(r.url()).pathname === `${V1}/apiToken/${clientId}/usage`);
  await page.goto(`/api-auth-token/${clientId}${range ? `?range=${range}` : ''}`);
  const r = await resp;
  assert.equal(r.status(), 200);
  await page.getByTestId('usage-chart').waitFor();
  await page.getByTestId('detail-rate-limit').waitFor();
  return { url: new URL(r.url()), json: await r.json() };
}

/* The chart's legend and the totals figures say what the API answered, and what the test did. */
async function assertChartSays(page, answer, c, what) {
  const t = answer.totals;
  assert.equal(Number(await legendTotal(page, 'allowed')), t.exchanges + t.gateAllowed + t.apiCalls, `${what}: allowed`);
  for (const k of ['refusedPrivilege', 'refusedRateLimit', 'refusedAddress', 'refusedExpired']) {
    assert.equal(Number(await legendTotal(page, k)), t[k], `${what}: ${k} in the legend`);
    assert.equal(t[k], c[k], `${what}: ${k} as done`);
  }
  assert.equal(t.exchanges + t.gateAllowed + t.apiCalls, c.exchanges + c.gateAllowed + c.apiCalls, `${what}: allowed as done`);
  assert.equal((await page.getByTestId('total-requests').locator('.figure-value').textContent()).trim(), num(requestsOf(c)));
  assert.equal((await page.getByTestId('total-refused').locator('.figure-value').textContent()).trim(), num(refusedOf(c)));
  assert.equal(Number(await page.getByTestId('usage-chart').getAttribute('data-buckets')), answer.result.length,
    `${what}: a bar a bucket`);
}

test('2. a token\u2019s page: its usage chart by reason, the range picker, a tooltip a bar', T, async () => {
  await signedIn(async ({ page, w }) => {
    const limited = tok.limited.clientId;
    const first = await openDetail(page, limited);
    assert.equal(first.url.searchParams.get('granularity'), 'hour', '7 days by the hour');
    assert.equal(first.json.result.length, 168, '7 days of hours');
    assert.equal(await page.locator('.seg-btn[aria-pressed="true"]').textContent(), '7 days');
    await assertChartSays(page, first.json, did[limited], '7 days');
    assert.equal(await page.getByTestId('detail-rate-limit').textContent(), '3 requests per hour');
    assert.equal(await page.getByTestId('detail-cidrs').textContent(), 'Any address');
    /* The legend, in the order of the stack, names each reason. */
    assert.deepEqual(await page.locator('[data-testid="legend-item"] .legend-label').allTextContents(),
      ['Allowed', 'Refused: privilege', 'Refused: rate limit', 'Refused: address', 'Refused: expired']);
    /* The last bar (this hour): its tooltip, on the End key, says what the API said of it. */
    const svg = page.getByTestId('usage-chart-svg');
    await svg.focus();
    await page.keyboard.press('End');
    const tip = page.getByTestId('chart-tip');
    await tip.waitFor();
    const c = did[limited];
    const lastBar = first.json.result[first.json.result.length - 1];
    const lastCounts = zero();
    for (const k of Object.keys(lastCounts)) lastCounts[k] = lastBar[k];
    assert.equal(requestsOf(lastCounts), lastBar.requests, 'a bucket\'s requests: the sum of its counts');
    const tipText = await tip.textContent();
    assert.match(tipText, new RegExp(`${lastBar.requests} requests?Refused: expired: ${lastBar.refusedExpired}` +
      `Refused: address: ${lastBar.refusedAddress}Refused: rate limit: ${lastBar.refusedRateLimit}` +
      `Refused: privilege: ${lastBar.refusedPrivilege}Allowed: ${lastBar.exchanges + lastBar.gateAllowed + lastBar.apiCalls}$`));
    await page.keyboard.press('ArrowLeft');
    const before = first.json.result[first.json.result.length - 2];
    await tip.filter({ hasText: `${before.requests} request` }).waitFor();
    const box = await svg.boundingBox();
    await page.mouse.move(box.x + box.width - 14, box.y + box.height / 2);
    await b.shot(page, 'usage-detail.png');

    /* 30 days: by the day; the request says so and the chart has 30 bars. */
    const resp = page.waitForResponse((r) => new URL(r.url()).pathname === `${V1}/apiToken/${limited}/usage`);
    await page.getByTestId('range-30d').click();
    const r30 = await resp;
    const u30 = new URL(r30.url());
    assert.equal(u30.searchParams.get('granularity'), 'day');
    const since30 = Date.parse(u30.searchParams.get('since'));
    assert.ok(Date.now() - since30 < 30 * DAY && Date.now() - since30 >= 29 * DAY, `since 30 days back: ${u30.searchParams.get('since')}`);
    await page.locator('[data-testid="usage-chart"][data-granularity="day"]').waitFor();
    const a30 = await r30.json();
    assert.equal(a30.result.length, 30);
    await assertChartSays(page, a30, c, '30 days');
    assert.equal(new URL(page.url()).searchParams.get('range'), '30d', 'the range is in the address');
    await page.mouse.move(0, 0);
    await b.shot(page, 'usage-detail-30d.png');

    /* 24 hours by the hour; and the address keeps it on a reload. */
    const resp24 = page.waitForResponse((r) => new URL(r.url()).pathname === `${V1}/apiToken/${limited}/usage`);
    await page.getByTestId('range-24h').click();
    const u24 = new URL((await resp24).url());
    assert.equal(u24.searchParams.get('granularity'), 'hour');
    await page.locator('[data-testid="usage-chart"][data-buckets="24"]').waitFor();
    const again = await openDetail(page, limited, '24h');
    assert.equal(again.json.result.length, 24);
    assert.equal(await page.locator('.seg-btn[aria-pressed="true"]').textContent(), '24 hours');
    b.assertClean(w, { strict: true });
  });
});

test('3. usage controls: a rate limit and address ranges saved, a bad range refused with the API\u2019s words', T, async () => {
  await signedIn(async ({ page, w }) => {
    const id = tok.idle.clientId;
    await openDetail(page, id);
    assert.equal(await page.getByTestId('rate-default').isChecked(), true, 'no limit of its own: the default');
    assert.equal(await page.getByTestId('rate-requests').isDisabled(), true);
    await page.getByTestId('rate-custom').check();
    await page.getByTestId('rate-requests').fill('5');
    await page.getByTestId('rate-period').fill('1');
    await page.getByTestId('rate-unit').selectOption({ label: 'minutes' });
    /* Host bits are cleared by the server: the editor shows what it kept. */
    await page.getByTestId('allowed-cidrs').fill('203.0.113.7/24\n\n  2001:db8::/32  \n');
    await page.getByTestId('save-controls').click();
    await page.getByTestId('toast').filter({ hasText: 'Usage controls saved.' }).waitFor();
    assert.equal(await page.getByTestId('detail-rate-limit').textContent(), '5 requests per minute');
    assert.equal(await page.getByTestId('allowed-cidrs').inputValue(), '203.0.113.0/24\n2001:db8::/32');
    const read = (await call(page, 'GET', `${V1}/apiToken/${id}`, undefined, 200)).json;
    assert.deepEqual(read.rateLimit, { requests: 5, periodSeconds: 60 });
    assert.deepEqual(read.allowedCidrs, ['203.0.113.0/24', '2001:db8::/32']);
    /* A reload shows the same. */
    await openDetail(page, id);
    assert.equal(await page.getByTestId('rate-custom').isChecked(), true);
    assert.equal(await page.getByTestId('rate-requests').inputValue(), '5');
    assert.equal(await page.getByTestId('rate-period').inputValue(), '1');
    assert.equal(await page.getByTestId('detail-cidrs').textContent(), '203.0.113.0/24, 2001:db8::/32');

    /* A bad range: the API's 400, in the API's words, and nothing changed. */
    await page.getByTestId('allowed-cidrs').fill('10.0.0.0/8\nnot-a-range');
    const direct = await call(page, 'PATCH', `${V1}/apiToken/${id}`,
      { rateLimit: { requests: 5, periodSeconds: 60 }, allowedCidrs: ['10.0.0.0/8', 'not-a-range'] });
    assert.equal(direct.status, 400, direct.text);
    await page.getByTestId('save-controls').click();
    const err = page.getByTestId('controls-error');
    await err.locator('.alert').waitFor();
    const shown = (await err.textContent()).trim();
    const said = direct.json.message.trim();
    assert.ok(shown.toLowerCase().includes(said.replace(/\.$/, '').toLowerCase()), `shown "${shown}" says "${said}"`);
    await b.shot(page, 'usage-controls.png');
    assert.deepEqual((await call(page, 'GET', `${V1}/apiToken/${id}`, undefined, 200)).json.allowedCidrs,
      ['203.0.113.0/24', '2001:db8::/32'], 'nothing saved');
    /* A limit of 0 is the page's own message, before any request. */
    await page.getByTestId('rate-requests').fill('0');
    await page.getByTestId('save-controls').click();
    await err.filter({ hasText: 'Requests must be a whole number, 1 or more.' }).waitFor();

    /* Back to the deployment's default and any address. */
    await page.getByTestId('rate-default').check();
    await page.getByTestId('allowed-cidrs').fill('');
    await page.getByTestId('save-controls').click();
    await page.getByTestId('detail-rate-limit').filter({ hasText: 'Deployment default' }).waitFor();
    const after = (await call(page, 'GET', `${V1}/apiToken/${id}`, undefined, 200)).json;
    assert.equal(after.rateLimit, null);
    assert.deepEqual(after.allowedCidrs, []);
    b.assertClean(w, { strict: true, allow: /status of 400/ });
  });
});

test('4. the Overview: the busiest and the most refused tokens, in order, each a link to its page', T, async () => {
  await signedIn(async ({ page, w }) => {
    /* The Overview's own questions (they rank: orderBy): the page signing in landed on may
     * still be answering its own (the token list's sparklines), and is not counted. */
    const answers = [];
    page.on('response', (r) => {
      const u = new URL(r.url());
      if (u.pathname === `${V1}/usage` && u.searchParams.has('orderBy')) answers.push(r);
    });
    await page.goto('/overview');
    await page.getByTestId('nav-overview').waitFor();
    await page.locator('[data-testid="most-refused"] [data-testid="top-row"]').first().waitFor();
    assert.equal(await page.getByTestId('nav-overview').getAttribute('aria-current'), 'page');
    const ids = (list) => page.locator(`[data-testid="${list}"] [data-testid="top-row"]`)
      .evaluateAll((rs) => rs.map((r) => r.getAttribute('data-client-id')));
    assert.deepEqual(await ids('busiest'), [tok.busy.clientId, tok.limited.clientId, tok.caller.clientId],
      'by requests; an unused token is not listed');
    assert.deepEqual(await ids('most-refused'), [tok.limited.clientId, tok.busy.clientId], 'by refusals; none refused: not listed');
    const busyRow = page.locator(`[data-testid="busiest"] [data-testid="top-row"][data-client-id="${tok.busy.clientId}"]`);
    assert.equal((await busyRow.getByTestId('top-requests').textContent()).trim(), num(requestsOf(did[tok.busy.clientId])));
    assert.equal((await busyRow.getByTestId('top-refused').textContent()).trim(), num(refusedOf(did[tok.busy.clientId])));
    /* The deployment's totals: every token's. */
    const all = Object.values(did).reduce((a, c) => a + requestsOf(c), 0);
    const refused = Object.values(did).reduce((a, c) => a + refusedOf(c), 0);
    assert.equal((await page.getByTestId('total-requests').locator('.figure-value').textContent()).trim(), num(all));
    assert.equal((await page.getByTestId('total-refused').locator('.figure-value').textContent()).trim(), num(refused));
    assert.equal(answers.length, 2, 'two requests: by requests and by refusals');
    const orders = answers.map((r) => new URL(r.url()).searchParams.get('orderBy')).sort();
    assert.deepEqual(orders, ['refused', 'requests']);
    await page.mouse.move(0, 0);
    await b.shot(page, 'usage-overview.png');
    /* 90 days: asked again, the same order. */
    await page.getByTestId('range-90d').click();
    await h.waitFor(() => answers.length === 4, 5000, 50);
    assert.equal(answers.length, 4);
    assert.ok(answers.slice(2).every((r) => Date.now() - Date.parse(new URL(r.url()).searchParams.get('since')) > 89 * DAY));
    /* A row opens the token's page. */
    await page.locator(`[data-testid="most-refused"] [data-client-id="${tok.limited.clientId}"] [data-testid="top-link"]`).click();
    await page.waitForURL((u) => new URL(u).pathname === `/api-auth-token/${tok.limited.clientId}`);
    await page.getByTestId('usage-chart').waitFor();
    assert.equal(await page.getByTestId('nav-api-auth-token').getAttribute('aria-current'), 'page', 'under API auth token');
    b.assertClean(w, { strict: true });
  });
});

test('5. a token\u2019s page: signed out it goes by the sign-in and back; a revoked token\u2019s controls are read only', T, async () => {
  const p = await b.newPage(browser, srv.base);
  try {
    const { page, w } = p;
    const id = tok.caller.clientId;
    await page.goto(`/api-auth-token/${id}?range=30d`);
    await page.waitForURL((u) => new URL(u).pathname === '/login');
    assert.equal(new URL(page.url()).searchParams.get('next'), `/api-auth-token/${id}`);
    await page.getByTestId('login-email').fill(admin.email);
    await page.getByTestId('login-password').fill(admin.password);
    await page.getByTestId('login-submit').click();
    await page.waitForURL((u) => new URL(u).pathname === `/api-auth-token/${id}`);
    await page.getByTestId('usage-chart').waitFor();
    /* The page's Secrets dialog. */
    await page.getByTestId('open-secrets').click();
    await page.getByTestId('secrets-dialog').getByTestId('secret-row').first().waitFor();
    await page.getByTestId('dialog-done').click();
    await page.getByTestId('secrets-dialog').waitFor({ state: 'detached' });
    /* Revoked: the controls can no longer change. */
    await call(page, 'POST', `${V1}/apiToken/${id}:revoke`, {}, 200);
    await openDetail(page, id);
    await page.getByTestId('controls-revoked').waitFor();
    assert.equal(await page.getByTestId('save-controls').isDisabled(), true);
    assert.equal(await page.getByTestId('allowed-cidrs').isDisabled(), true);
    /* A token that does not exist: the API's 404 in words. */
    await page.goto('/api-auth-token/kgc_doesNotExist0000000');
    await page.getByTestId('page-alerts').locator('.alert').waitFor();
    assert.equal(await page.getByTestId('usage-controls').isHidden(), true);
    b.assertClean(w, { strict: true, allow: /status of 404/ });
  } finally {
    await p.context.close();
  }
});
