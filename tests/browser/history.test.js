'use strict';
// The pane's usage pictures over a realistic history (issue 19): five tokens with 35 days of
// hourly counts written straight into the store (token_usage), with daily and weekly rhythms,
// a nightly batch that runs into its rate limit, a day refused for its address, a feed whose
// requests stop (expired refusals after) and an idle token.  The numbers come from a seeded
// function of the hour, so the test knows every sum; it reads the token list's sparklines, a
// token's page by the hour (7 days) and by the day (30 days), and the Overview, as a person
// would, in Debian's chromium against the real keygate binary on 127.0.0.1.
//
//   KEYGATE_BIN=build/keygate node --test --test-concurrency=1 tests/browser/history.test.js
//
// Screenshots go to build/screenshots/ (history-list.png, history-token-7d.png,
// history-token-30d.png, history-overview.png).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const b = require('./helpers.js');

const { h } = b;
const { V1 } = h;
const T = { timeout: 60000 };
const DAY = 86400000;
const HOUR = 3600000;
const HISTORY_DAYS = 35;

const COUNTS = ['exchanges', 'gateAllowed', 'apiCalls', 'refusedPrivilege', 'refusedRateLimit', 'refusedAddress',
  'refusedExpired'];
const COLUMNS = ['exchanges', 'gate_allowed', 'api_calls', 'refused_privilege', 'refused_rate', 'refused_address',
  'refused_expired'];
const REFUSED = COUNTS.slice(3);
/* The chart's series, bottom of the stack first, as the legend names them. */
const SERIES = [['allowed', 'Allowed'], ['refusedPrivilege', 'Refused: privilege'], ['refusedRateLimit', 'Refused: rate limit'],
  ['refusedAddress', 'Refused: address'], ['refusedExpired', 'Refused: expired']];

let browser;
let srv;
let dir;
const admin = { email: 'history-admin@example.com' };
/* name → the token object the API made */
const tok = {};
/* clientId → Map(hour ms → counts), every hour written */
const rows = {};
/* The last hour written (the one holding the moment the history was written) and its UTC day. */
let lastHour;
let today;

/* ---- the history: a seeded, deterministic function of (token, hour) ---- */

/* mulberry32: a small PRNG; one generator an hour a token, so each hour's numbers stand alone. */
function rand(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = 19;
function rngOf(tokenSeed, hour) {
  return rand(Math.imul(SEED, 0x9E3779B1) ^ Math.imul(tokenSeed, 0x85EBCA77) ^ (hour / HOUR));
}
/* A bell around hour `peak` of the UTC day (wrapping at midnight), from `floor` to 1. */
function daily(hod, peak, width, floor) {
  const d = Math.min(Math.abs(hod - peak), 24 - Math.abs(hod - peak));
  return floor + (1 - floor) * Math.exp(-(d * d) / (2 * width * width));
}
function zero() {
  return Object.fromEntries(COUNTS.map((k) => [k, 0]));
}

const PROFILES = {
  /* A web shop's orders service: busy in the (UTC) afternoon, quieter at weekends; now and
   * then a call it has no privilege for. */
  'orders app': (hour, r) => {
    const d = new Date(hour);
    const weekend = d.getUTCDay() === 0 || d.getUTCDay() === 6;
    const c = zero();
    c.gateAllowed = Math.round(320 * daily(d.getUTCHours(), 14, 3.5, 0.12) * (weekend ? 0.4 : 1) * (0.85 + 0.3 * r()));
    c.exchanges = 1 + Math.floor(c.gateAllowed / 60);
    c.refusedPrivilege = r() < 0.15 ? 1 + Math.floor(r() * 4) : 0;
    return c;
  },
  /* A nightly billing run, 01:00–03:59 UTC, against a limit of 500 requests an hour: on a
   * weekday it sometimes asks for more, on Mondays (the week's invoices) always. */
  'billing batch': (hour, r) => {
    const d = new Date(hour);
    const hod = d.getUTCHours();
    const c = zero();
    if (hod >= 1 && hod <= 3) {
      const demand = d.getUTCDay() === 1 ? Math.round(800 + 350 * r()) : Math.round(330 + 260 * r());
      c.exchanges = 1;
      c.apiCalls = 12;
      const gate = demand - c.exchanges - c.apiCalls;
      c.gateAllowed = Math.min(gate, 500 - c.exchanges - c.apiCalls);
      c.refusedRateLimit = gate - c.gateAllowed;
    } else if (hod % 6 === 0) {
      c.apiCalls = 2; /* a status check */
    }
    return c;
  },
  /* A mobile app's backend, busiest in the evening; for one whole day (4 days ago) its
   * calls came from a new NAT address outside its allowed range and were all refused. */
  'mobile backend': (hour, r) => {
    const d = new Date(hour);
    const level = daily(d.getUTCHours(), 19, 3, 0.15) * (0.8 + 0.4 * r());
    const c = zero();
    const api = Math.round(150 * level);
    const gate = Math.round(60 * level);
    const exch = 2 + Math.floor(r() * 3);
    if (hour >= today - 4 * DAY && hour < today - 3 * DAY) {
      c.refusedAddress = exch * 4 + gate; /* exchanges retried, and the gate checks */
    } else {
      c.apiCalls = api;
      c.gateAllowed = gate;
      c.exchanges = exch;
    }
    return c;
  },
  /* A partner's feed, office hours on weekdays, until its secret expired at 11:00 on the
   * weekday 9 days ago (or the one before);
   * since then its retries are refused as expired, fewer as the days go by. */
  'partner feed': (hour, r) => {
    const d = new Date(hour);
    const hod = d.getUTCHours();
    const c = zero();
    const weekday = d.getUTCDay() >= 1 && d.getUTCDay() <= 5;
    if (!weekday || hod < 8 || hod > 18) return c;
    let stop = today - 9 * DAY + 11 * HOUR;
    while (new Date(stop).getUTCDay() % 6 === 0) stop -= DAY; /* a weekday */
    if (hour < stop) {
      c.exchanges = 1;
      c.gateAllowed = Math.round(30 + 30 * r());
    } else {
      const days = (hour - stop) / DAY;
      c.refusedExpired = Math.round((12 + 20 * r()) * Math.max(0.3, 1 - days / 12));
    }
    return c;
  },
  /* Made for a cron job that no longer runs: nothing. */
  'legacy cron': null,
};

/* rows[clientId] for each token, from the first hour of the history to lastHour. */
function makeHistory() {
  lastHour = Math.floor(Date.now() / HOUR) * HOUR;
  today = Math.floor(lastHour / DAY) * DAY;
  const first = today - (HISTORY_DAYS - 1) * DAY;
  Object.entries(PROFILES).forEach(([name, fn], i) => {
    const m = new Map();
    rows[tok[name].clientId] = m;
    if (!fn) return;
    for (let hr = first; hr <= lastHour; hr += HOUR) {
      const c = fn(hr, rngOf(i + 1, hr));
      if (requestsOf(c) > 0) m.set(hr, c);
    }
  });
}

function requestsOf(c) {
  return COUNTS.reduce((a, k) => a + c[k], 0);
}
function refusedOf(c) {
  return REFUSED.reduce((a, k) => a + c[k], 0);
}
function allowedOf(c) {
  return c.exchanges + c.gateAllowed + c.apiCalls;
}
function seriesOf(c, key) {
  return key === 'allowed' ? allowedOf(c) : c[key];
}
/* The sum of a token's counts over the hours in [from, to). */
function sumOf(clientId, from, to) {
  const s = zero();
  for (const [hr, c] of rows[clientId]) {
    if (hr >= from && hr < to) for (const k of COUNTS) s[k] += c[k];
  }
  return s;
}

/* Writes every row with the sqlite3 command-line tool, in one transaction, into the running
 * server's database (WAL: the server reads the usage from the file on each request). */
function writeHistory(db) {
  const mode = execFileSync('sqlite3', [db, 'PRAGMA journal_mode;'], { encoding: 'utf8', timeout: 10000 }).trim();
  assert.equal(mode, 'wal', 'the server keeps its database in WAL mode');
  const values = [];
  for (const [clientId, m] of Object.entries(rows)) {
    for (const [hr, c] of m) values.push(`('${clientId}',${hr},${COUNTS.map((k) => c[k]).join(',')})`);
  }
  const sql = `.timeout 5000\nBEGIN;\nINSERT INTO token_usage (client_id, hour, ${COLUMNS.join(', ')}) VALUES\n` +
    `${values.join(',\n')};\nCOMMIT;\nSELECT count(*) FROM token_usage;\n`;
  const n = execFileSync('sqlite3', [db], { input: sql, encoding: 'utf8', timeout: 20000 }).trim();
  assert.equal(Number(n), values.length, 'every row written');
}

before(async () => {
  dir = b.freshDir();
  const db = b.dbOf(dir);
  admin.password = b.createUser(db, admin.email, 'accountadmin');
  for (const [role, priv] of [['orders_reader', 'orders.read'], ['billing_runner', 'billing.write'],
    ['mobile_api', 'mobile.read'], ['partner_feed', 'feed.read'], ['cron_job', 'reports.write']]) {
    b.cliOk(db, ['role', 'create', role]);
    b.cliOk(db, ['role', 'grant-privilege', role, priv]);
  }
  const roles = Object.fromEntries(['orders_reader', 'billing_runner', 'mobile_api', 'partner_feed', 'cron_job']
    .map((r) => [r, b.roleId(db, r)]));
  srv = await h.startServer({ dir });
  browser = await b.launchBrowser();
  await signedIn(async ({ page }) => {
    const make = async (name, role, extra = {}) => {
      tok[name] = (await call(page, 'POST', `${V1}/apiToken`, { description: name, roleId: roles[role], ...extra }, 201)).json;
    };
    /* Made in this order: the list shows the newest first. */
    await make('legacy cron', 'cron_job');
    await make('partner feed', 'partner_feed', { rateLimit: { requests: 120, periodSeconds: 60 } });
    await make('mobile backend', 'mobile_api', { allowedCidrs: ['203.0.113.0/24', '2001:db8:40::/48'] });
    await make('billing batch', 'billing_runner', { rateLimit: { requests: 500, periodSeconds: 3600 } });
    await make('orders app', 'orders_reader', { rateLimit: { requests: 1000, periodSeconds: 60 } });
  });
  makeHistory();
  writeHistory(db);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/* Runs fn({context, page, w}) signed in as the admin, in a fresh context closed afterwards;
 * the window of usage.test.js's screenshots. */
const signedIn = (fn) => b.withPage(browser, srv.base, admin, fn, { viewport: { width: 1280, height: 1560 }, timezoneId: 'UTC' });
const call = b.pageCall;

const num = (n) => n.toLocaleString('en-US');
const rowOf = (page, clientId) => page.locator(`[data-testid="token-row"][data-client-id="${clientId}"]`);
const dayLabel = (ms) => new Date(ms).toLocaleDateString('en-US', { timeZone: 'UTC', weekday: 'short', month: 'short', day: 'numeric' });
/* An hour's label as the chart writes it, in the page's time zone (UTC here). */
function hourLabel(ms) {
  const t = (x) => new Date(x).toLocaleTimeString('en-US', { timeZone: 'UTC', hour: '2-digit', minute: '2-digit', hour12: false });
  return `${new Date(ms).toLocaleDateString('en-US', { timeZone: 'UTC', month: 'short', day: 'numeric' })}, ${t(ms)}\u2013${t(ms + HOUR)}`;
}

test('1. the token list: each row\u2019s sparkline says its last 7 UTC days, day by day', T, async () => {
  await signedIn(async ({ page, w }) => {
    const asked = page.waitForRequest((r) => new URL(r.url()).pathname === `${V1}/usage`);
    await page.goto('/api-auth-token');
    const q = new URL((await asked).url()).searchParams;
    await page.locator('[data-testid="row-usage"][data-loaded="true"]').nth(4).waitFor();
    const since = Date.parse(q.get('since'));
    assert.equal(since % DAY, 0, 'the start of a UTC day');
    assert.ok(since === today - 6 * DAY || since === today - 5 * DAY, `7 UTC days, today included: ${q.get('since')}`);
    for (const [name, t] of Object.entries(tok)) {
      const days = [...Array(7).keys()].map((i) => sumOf(t.clientId, since + i * DAY, since + (i + 1) * DAY));
      const all = days.reduce((a, c) => a + requestsOf(c), 0);
      const refused = days.reduce((a, c) => a + refusedOf(c), 0);
      const spark = rowOf(page, t.clientId).getByTestId('sparkline');
      const summary = `Last 7 days: ${num(all)} ${all === 1 ? 'request' : 'requests'}, ${num(refused)} refused`;
      assert.equal(await spark.getAttribute('aria-label'), summary, `${name}: the sparkline's summary`);
      const title = (await spark.locator('title').textContent()).split('\n');
      assert.deepEqual(title, [summary, ...days.map((c, i) =>
        `${dayLabel(since + i * DAY)}: ${num(requestsOf(c))} (${num(refusedOf(c))} refused)`)], `${name}: a line a day`);
    }
    /* What the pictures show, in words: the idle token's line lies flat and grey, a refused
     * line only where there were refusals. */
    const idle = rowOf(page, tok['legacy cron'].clientId).getByTestId('sparkline');
    assert.equal(await idle.locator('polyline').count(), 1);
    assert.equal(await idle.locator('polyline').getAttribute('stroke'), '#afb8c1');
    assert.equal(await rowOf(page, tok['partner feed'].clientId).getByTestId('sparkline').locator('polyline').count(), 2);
    await page.mouse.move(0, 0);
    await b.shot(page, 'history-list.png');
    b.assertClean(w, { strict: true });
  });
});

/* Opens a token's page at ?range=… and returns the `since` the page asked for. */
async function openToken(page, clientId, range) {
  const resp = page.waitForResponse((r) => new URL(r.url()).pathname === `${V1}/apiToken/${clientId}/usage`);
  await page.goto(`/api-auth-token/${clientId}?range=${range}`);
  const r = await resp;
  assert.equal(r.status(), 200);
  await page.getByTestId('usage-chart').waitFor();
  return Date.parse(new URL(r.url()).searchParams.get('since'));
}

/* The legend's totals, the totals row, the number of buckets and of bars drawn, for a token
 * over the `n` buckets of `unit` ms from `since`. */
async function assertChart(page, clientId, since, unit, n, what) {
  const chart = page.getByTestId('usage-chart');
  assert.equal(Number(await chart.getAttribute('data-buckets')), n, `${what}: a bucket a ${unit === DAY ? 'day' : 'hour'}`);
  const s = sumOf(clientId, since, since + n * unit);
  for (const [key] of SERIES) {
    const item = page.locator(`[data-testid="legend-item"][data-series="${key}"]`);
    assert.equal(Number(await item.getAttribute('data-total')), seriesOf(s, key), `${what}: ${key} in the legend`);
    assert.equal((await item.getByTestId('legend-total').textContent()).trim(), num(seriesOf(s, key)), `${what}: ${key} in words`);
  }
  assert.equal((await page.getByTestId('total-requests').locator('.figure-value').textContent()).trim(), num(requestsOf(s)));
  assert.equal((await page.getByTestId('total-refused').locator('.figure-value').textContent()).trim(), num(refusedOf(s)));
  /* A bar for every bucket with any request: the bars' distinct x positions. */
  let used = 0;
  for (let i = 0; i < n; i++) if (requestsOf(sumOf(clientId, since + i * unit, since + (i + 1) * unit)) > 0) used++;
  const xs = await page.locator('.chart-bars rect').evaluateAll((rs) => new Set(rs.map((r) => r.getAttribute('x'))).size);
  assert.equal(xs, used, `${what}: a bar for each ${unit === DAY ? 'day' : 'hour'} with requests`);
}

/* Hovers bar i and checks its tooltip, and that its segments are stacked in the legend's
 * order, touching, each as tall as its count. */
async function assertBar(page, i, c, label) {
  await page.locator(`.chart-hit rect[data-index="${i}"]`).hover();
  const tip = page.getByTestId('chart-tip');
  await tip.waitFor();
  const lines = SERIES.slice().reverse().map(([key, l]) => `${l}: ${num(seriesOf(c, key))}`).join('');
  const n = requestsOf(c);
  assert.equal(await tip.textContent(), `${label}${num(n)} ${n === 1 ? 'request' : 'requests'}${lines}`, `the tooltip of bar ${i}`);
  const x = await page.locator(`.chart-hit rect[data-index="${i}"]`).evaluate((hit) => {
    const w = Number(hit.getAttribute('width'));
    return Number(hit.getAttribute('x')) + w / 2;
  });
  const segs = await page.locator('.chart-bars rect').evaluateAll((rs, cx) => rs
    .filter((r) => Number(r.getAttribute('x')) <= cx && Number(r.getAttribute('x')) + Number(r.getAttribute('width')) >= cx)
    .map((r) => ({ key: r.getAttribute('data-series'), y: Number(r.getAttribute('y')), h: Number(r.getAttribute('height')) })), x);
  assert.deepEqual(segs.map((s) => s.key), SERIES.map(([k]) => k).filter((k) => seriesOf(c, k) > 0), 'bottom up in the legend\u2019s order');
  for (let k = 1; k < segs.length; k++) {
    assert.ok(Math.abs(segs[k].y + segs[k].h - segs[k - 1].y) < 0.02, `segment ${segs[k].key} sits on ${segs[k - 1].key}`);
  }
  const perUnit = segs.map((s) => s.h / seriesOf(c, s.key)).filter((v, k) => segs[k].h > 1);
  assert.ok(perUnit.every((v) => Math.abs(v - perUnit[0]) / perUnit[0] < 0.02), `heights in proportion: ${perUnit}`);
}

test('2. a token\u2019s page, 7 days by the hour: the legend\u2019s totals, a bar an hour, an hour\u2019s tooltip', T, async () => {
  await signedIn(async ({ page, w }) => {
    for (const [name, t] of Object.entries(tok)) {
      const since = await openToken(page, t.clientId, '7d');
      assert.equal(since % HOUR, 0, `${name}: whole hours`);
      assert.ok(since === lastHour - 167 * HOUR || since === lastHour - 166 * HOUR, `${name}: the 168 hours up to now`);
      await assertChart(page, t.clientId, since, HOUR, 168, `${name}, 7 days`);
    }
    /* The billing run's worst hour: past its limit. */
    const id = tok['billing batch'].clientId;
    const since = await openToken(page, id, '7d');
    let worst = since;
    for (let hr = since; hr <= lastHour; hr += HOUR) {
      if ((rows[id].get(hr) || zero()).refusedRateLimit > (rows[id].get(worst) || zero()).refusedRateLimit) worst = hr;
    }
    const c = rows[id].get(worst);
    assert.ok(c.refusedRateLimit > 0 && allowedOf(c) === 500, 'a run past the limit of 500 an hour');
    await assertBar(page, (worst - since) / HOUR, c, hourLabel(worst));
    await b.shot(page, 'history-token-7d.png');
    b.assertClean(w, { strict: true });
  });
});

test('3. a token\u2019s page, 30 days by the day: the legend\u2019s totals, a bar a day, a day\u2019s tooltip', T, async () => {
  await signedIn(async ({ page, w }) => {
    for (const [name, t] of Object.entries(tok)) {
      const since = await openToken(page, t.clientId, '30d');
      assert.ok(since === today - 29 * DAY || since === today - 28 * DAY, `${name}: 30 UTC days, today included`);
      await page.locator('[data-testid="usage-chart"][data-granularity="day"]').waitFor();
      await assertChart(page, t.clientId, since, DAY, 30, `${name}, 30 days`);
    }
    /* The day the mobile backend came from the wrong address. */
    const id = tok['mobile backend'].clientId;
    const since = await openToken(page, id, '30d');
    const day = today - 4 * DAY;
    const c = sumOf(id, day, day + DAY);
    assert.ok(c.refusedAddress > 0 && allowedOf(c) === 0, 'a day refused for its address');
    await assertBar(page, (day - since) / DAY, c, dayLabel(day));
    /* And the partner feed's month: allowed until it stopped, expired refusals after. */
    const pid = tok['partner feed'].clientId;
    const psince = await openToken(page, pid, '30d');
    await page.locator('[data-testid="usage-chart"][data-granularity="day"]').waitFor();
    const month = sumOf(pid, psince, lastHour + HOUR);
    assert.ok(allowedOf(month) > 0 && month.refusedExpired > 0, 'allowed, then refused as expired');
    await page.mouse.move(0, 0);
    await b.shot(page, 'history-token-30d.png');
    b.assertClean(w, { strict: true });
  });
});

test('4. the Overview: the busiest and the most refused tokens, in order, with the totals written', T, async () => {
  await signedIn(async ({ page, w }) => {
    /* The Overview's own questions (they rank: orderBy): the page signing in landed on may
     * still be answering its own (the token list's sparklines), and is not counted. */
    const answers = [];
    page.on('response', (r) => {
      const u = new URL(r.url());
      if (u.pathname === `${V1}/usage` && u.searchParams.has('orderBy')) answers.push(r);
    });
    await page.goto('/overview');
    assert.ok((await h.waitFor(() => answers.length >= 2, 10000, 50)).ok, 'the Overview asks twice');
    assert.equal(answers.length, 2, 'and only twice');
    for (const list of ['busiest', 'most-refused'])
      await page.locator(`[data-testid="${list}"] [data-testid="top-row"]`).first().waitFor();
    const since = Date.parse(new URL(answers[0].url()).searchParams.get('since'));
    /* Shown by the day: 7 whole UTC days, today included, as the token list's sparklines. */
    assert.ok(since === today - 6 * DAY || since === today - 5 * DAY, `7 UTC days back: ${new Date(since).toISOString()}`);
    assert.deepEqual(answers.map((r) => new URL(r.url()).searchParams.get('granularity')), ['day', 'day']);
    const sums = Object.values(tok).map((t) => ({ id: t.clientId, c: sumOf(t.clientId, since, lastHour + HOUR) }));
    const order = (f) => sums.filter((s) => f(s.c) > 0).sort((a, b2) => f(b2.c) - f(a.c) || (a.id < b2.id ? -1 : 1));
    const ids = (list) => page.locator(`[data-testid="${list}"] [data-testid="top-row"]`)
      .evaluateAll((rs) => rs.map((r) => r.getAttribute('data-client-id')));
    const byRequests = order(requestsOf);
    const byRefused = order(refusedOf);
    assert.deepEqual(await ids('busiest'), byRequests.map((s) => s.id), 'by requests; the idle token left out');
    assert.deepEqual(await ids('most-refused'), byRefused.map((s) => s.id), 'by refusals');
    assert.equal(byRequests.length, 4);
    assert.equal(byRefused.length, 4);
    for (const [list, want] of [['busiest', byRequests], ['most-refused', byRefused]]) {
      for (const s of want) {
        const row = page.locator(`[data-testid="${list}"] [data-testid="top-row"][data-client-id="${s.id}"]`);
        assert.equal((await row.getByTestId('top-requests').textContent()).trim(), num(requestsOf(s.c)), `${list}: requests`);
        assert.equal((await row.getByTestId('top-refused').textContent()).trim(), num(refusedOf(s.c)), `${list}: refused`);
      }
    }
    const all = sums.reduce((a, s) => a + requestsOf(s.c), 0);
    const refused = sums.reduce((a, s) => a + refusedOf(s.c), 0);
    assert.equal((await page.getByTestId('total-requests').locator('.figure-value').textContent()).trim(), num(all), 'all tokens');
    assert.equal((await page.getByTestId('total-refused').locator('.figure-value').textContent()).trim(), num(refused));
    await page.mouse.move(0, 0);
    await b.shot(page, 'history-overview.png');
    b.assertClean(w, { strict: true });
  });
});
