'use strict';
// The Audit log page (/audit-log) in a real browser: Debian's chromium driven by
// playwright-core against the real keygate binary on 127.0.0.1 with a throw-away database.
//
//   KEYGATE_BIN=build/keygate node --test --test-concurrency=1 tests/browser/audit.test.js
//
// Screenshots go to build/screenshots/ (audit-log.png, audit-log-empty.png,
// audit-log-no-permission.png).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const b = require('./helpers.js');

const { h } = b;
const { V1 } = h;
const T = { timeout: 90000 };
const COLUMNS = ['Time', 'Actor', 'Action', 'Target', 'Source address', 'Outcome', 'Detail'];

let browser;
let srv;
let dir;
let db;
const users = {};

before(async () => {
  dir = b.freshDir();
  db = b.dbOf(dir);
  users.admin = { email: 'audit-admin@example.com', password: b.createUser(db, 'audit-admin@example.com', 'accountadmin') };
  /* token_admin manages tokens but may not read the audit log. */
  b.cliOk(db, ['role', 'create', 'token_admin', '--description', 'manages API tokens']);
  b.cliOk(db, ['role', 'grant-privilege', 'token_admin', 'ManageSecurity']);
  users.alice = { email: 'alice@example.com', password: b.createUser(db, 'alice@example.com', 'token_admin') };
  srv = await h.startServer({ dir });
  browser = await b.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function withPage(base, fn, opts) {
  const p = await b.newPage(browser, base, opts);
  try {
    return await fn(p);
  } finally {
    await p.context.close();
  }
}

/* The query of the next GET /public/api/v1/auditLog the page sends while `action` runs. */
async function auditQuery(page, action) {
  const [req] = await Promise.all([
    page.waitForRequest((r) => new URL(r.url()).pathname === `${V1}/auditLog` && r.method() === 'GET'),
    action(),
  ]);
  return new URL(req.url()).searchParams;
}

const rows = (page) => page.getByTestId('audit-row');

/* The page has finished a load: rows, the empty state or an error is showing. */
async function settled(page) {
  await page.locator('[data-testid="audit-row"], [data-testid="audit-empty"]:visible, [data-testid="error"]').first().waitFor();
  await page.getByTestId('audit-loading').waitFor({ state: 'hidden' });
}

test('1. a token generated in the pane is the newest entry; actor, time and empty-result filters', T, async () => {
  /* Asia/Kolkata (UTC+05:30, no summer time): the From/To conversion to UTC is visible. */
  await withPage(srv.base, async ({ page, w }) => {
    /* A failed sign-in first, as someone keygate does not know: no actor, a red outcome. */
    await page.goto('/login');
    await page.getByTestId('login-email').fill('nobody@example.com');
    await page.getByTestId('login-password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor({ state: 'visible' });

    await b.signIn(page, users.admin.email, users.admin.password);
    const me = (await b.pageSession(page)).json;
    assert.equal(me.privileges.ViewAuditLog, true, 'accountadmin holds ViewAuditLog');

    /* A change through the pane: Generate new token. */
    await page.getByTestId('generate-token').click();
    await page.getByTestId('token-description').fill('audit me');
    await page.getByTestId('role-select').selectOption({ label: 'accountadmin' });
    await page.getByTestId('create-token').click();
    const clientId = (await page.getByTestId('client-id').textContent()).trim();
    assert.match(clientId, h.CLIENT_ID_RE);
    await page.getByTestId('saved-checkbox').check();
    await page.getByTestId('save-token').click();
    await page.locator(`[data-testid="token-row"][data-client-id="${clientId}"]`).waitFor();

    /* The nav item, under Access. */
    const nav = page.getByTestId('nav-audit-log');
    assert.ok(await nav.isVisible(), 'the Audit log nav item is shown to a holder of ViewAuditLog');
    assert.equal((await nav.textContent()).trim(), 'Audit log');
    assert.equal(await page.locator('[aria-labelledby="nav-access"] [data-testid="nav-audit-log"]').count(), 1, 'under Access');
    const first = await auditQuery(page, () => nav.click());
    await page.waitForURL((u) => new URL(u).pathname === '/audit-log');
    assert.equal(first.get('pageSize'), '100');
    assert.equal(first.get('actor'), null, 'no filter at first');
    assert.equal(await page.getByTestId('page-title').textContent(), 'Audit log');
    assert.equal(await page.title(), 'Audit log \u00b7 keygate');
    assert.equal(await nav.getAttribute('aria-current'), 'page');
    await settled(page);

    /* The table: the exact columns, each a th scope="col"; labelled filters. */
    const ths = page.locator('[data-testid="audit-table"] thead th');
    assert.deepEqual((await ths.allTextContents()).map((t) => t.trim()), COLUMNS);
    assert.deepEqual(await ths.evaluateAll((els) => els.map((e) => e.getAttribute('scope'))), COLUMNS.map(() => 'col'));
    for (const [id, label] of [['audit-actor', 'Actor'], ['audit-since', 'From'], ['audit-until', 'To']]) {
      assert.equal((await page.locator(`label[for="${id}"]`).textContent()).trim(), label);
      assert.equal(await page.getByLabel(label, { exact: true }).getAttribute('id'), id);
    }
    assert.equal(await page.getByTestId('audit-since').getAttribute('type'), 'datetime-local');
    assert.equal((await page.getByTestId('audit-apply').textContent()).trim(), 'Apply');

    /* Newest first: the token just generated, by me, from 127.0.0.1, OK. */
    const top = rows(page).first();
    assert.equal(await top.getAttribute('data-action'), 'apiToken.create');
    assert.equal(await top.getAttribute('data-outcome'), 'OK');
    assert.equal(await top.getAttribute('data-actor'), me.userId);
    assert.equal(await top.getAttribute('data-target'), clientId);
    assert.equal((await top.getByTestId('audit-action').textContent()).trim(), 'apiToken.create');
    assert.equal((await top.getByTestId('audit-outcome').textContent()).trim(), 'OK');
    assert.match(await top.getByTestId('audit-outcome').getAttribute('class'), /badge-active/, 'OK is green');
    assert.equal((await top.getByTestId('audit-actor-filter').textContent()).trim(), me.userId);
    assert.match(await top.getByTestId('audit-actor-cell').textContent(), /\(you\)/);
    assert.equal((await top.getByTestId('audit-target').textContent()).trim(), clientId);
    assert.equal((await top.getByTestId('audit-source').textContent()).trim(), '127.0.0.1');
    const when = await top.locator('time').getAttribute('datetime');
    assert.ok(Math.abs(Date.parse(when) - Date.now()) < 120000, `a time of just now: ${when}`);

    /* The failed sign-in: no known actor, a red outcome. */
    const failed = page.locator('[data-testid="audit-row"][data-action="signIn"][data-target="nobody@example.com"]').first();
    await failed.waitFor();
    assert.equal(await failed.getAttribute('data-actor'), '');
    assert.notEqual(await failed.getAttribute('data-outcome'), 'OK');
    assert.match(await failed.getByTestId('audit-outcome').getAttribute('class'), /badge-error/, 'a failure is red');
    assert.equal((await failed.getByTestId('audit-actor-cell').textContent()).trim(), 'unknown');
    await page.mouse.move(0, 0);
    await b.shot(page, 'audit-log.png');

    /* An actor with no entries: the empty state, and the filter is in the address bar. */
    const all = await rows(page).count();
    await page.getByTestId('audit-actor').fill('u-nobody00000');
    const q = await auditQuery(page, () => page.getByTestId('audit-apply').click());
    assert.equal(q.get('actor'), 'u-nobody00000');
    const empty = page.getByTestId('audit-empty');
    await empty.waitFor({ state: 'visible' });
    assert.match(await empty.textContent(), /No entries match these filters/);
    assert.equal(await rows(page).count(), 0);
    assert.equal(await page.getByTestId('audit-table').isVisible(), false);
    assert.equal(new URL(page.url()).searchParams.get('actor'), 'u-nobody00000');
    await b.shot(page, 'audit-log-empty.png');

    /* A reload keeps the filter. */
    await page.reload();
    await empty.waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('audit-actor').inputValue(), 'u-nobody00000');

    /* Clear: everything again. */
    await page.getByTestId('audit-clear').click();
    await rows(page).first().waitFor();
    assert.equal(await rows(page).count(), all);
    assert.equal(new URL(page.url()).search, '');

    /* An actor's id filters by that actor. */
    const byMe = await auditQuery(page, () => rows(page).first().getByTestId('audit-actor-filter').click());
    assert.equal(byMe.get('actor'), me.userId);
    await settled(page);
    assert.equal(await page.getByTestId('audit-actor').inputValue(), me.userId);
    const actors = await rows(page).evaluateAll((rs) => rs.map((r) => r.getAttribute('data-actor')));
    assert.ok(actors.length > 0 && actors.every((a) => a === me.userId), `only my entries: ${actors}`);
    /* The 401 is the wrong password, on purpose. */
    b.assertClean(w, { strict: true, allow: /status of 401/ });
  }, { timezoneId: 'Asia/Kolkata' });
});

test('2. From and To are local times sent as UTC RFC 3339; From after To is refused in the page', T, async () => {
  const OFFSET = 330 * 60000; /* Asia/Kolkata */
  const local = (ms) => new Date(ms + OFFSET).toISOString().slice(0, 16); /* a datetime-local value */
  const utc = (value) => new Date(Date.parse(`${value}:00Z`) - OFFSET).toISOString().replace('.000Z', 'Z');
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    await page.goto('/audit-log');
    await settled(page);
    const now = Date.now();
    const from = local(now - 3600000);
    const to = local(now + 3600000);
    await page.getByTestId('audit-since').fill(from);
    await page.getByTestId('audit-until').fill(to);
    const q = await auditQuery(page, () => page.getByTestId('audit-apply').click());
    assert.equal(q.get('since'), utc(from), `From ${from} in Asia/Kolkata`);
    assert.equal(q.get('until'), utc(to), `To ${to} in Asia/Kolkata`);
    assert.match(q.get('since'), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    await settled(page);
    assert.ok(await rows(page).count() > 0, 'this hour\'s entries are shown');
    assert.equal(new URL(page.url()).searchParams.get('since'), utc(from));

    /* A reload fills the inputs back in local time. */
    await page.reload();
    await settled(page);
    assert.equal(await page.getByTestId('audit-since').inputValue(), from);
    assert.equal(await page.getByTestId('audit-until').inputValue(), to);

    /* The future only: nothing. */
    await page.getByTestId('audit-since').fill(local(now + 2 * 3600000));
    await page.getByTestId('audit-until').fill('');
    await page.getByTestId('audit-apply').click();
    await page.getByTestId('audit-empty').waitFor({ state: 'visible' });

    /* From after To: a message by the filters, and no request. */
    let asked = 0;
    const count = (r) => { if (new URL(r.url()).pathname === `${V1}/auditLog`) asked += 1; };
    page.on('request', count);
    await page.getByTestId('audit-since').fill(to);
    await page.getByTestId('audit-until').fill(from);
    await page.getByTestId('audit-apply').click();
    const err = page.getByTestId('audit-filter-error');
    await err.waitFor({ state: 'visible' });
    assert.match(await err.textContent(), /From must be earlier than To/);
    await page.waitForTimeout(200);
    page.off('request', count);
    assert.equal(asked, 0, 'no request for an impossible range');
    b.assertClean(w, { strict: true });
  }, { timezoneId: 'Asia/Kolkata' });
});

test('3. server text is text, Load more follows nextPageToken, and a failed load says so', T, async () => {
  /* The API answer is staged here (page.route) to see the page handle what the server may say. */
  const evil = '<img src=x onerror="window.__xss=1">';
  const entry = (i, extra) => ({ time: `2026-12-01T12:00:0${i}.123Z`, actor: 'kgc_AbCdEfGh01234567', action: 'role.update',
    target: 'r-0123456789', sourceAddress: '10.0.0.7', outcome: 'OK', detail: '', ...extra });
  const pages = {
    '': { nextPageToken: 'p2', result: [entry(3, { detail: evil, outcome: 'PERMISSION_DENIED' }), entry(2, { actor: 'cli', sourceAddress: 'local' })] },
    p2: { nextPageToken: '', result: [entry(1, { target: evil })] },
  };
  let fail = false;
  const tokens = [];
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    await page.route((u) => u.pathname === `${V1}/auditLog`, (route) => {
      const t = new URL(route.request().url()).searchParams.get('pageToken') || '';
      tokens.push(t);
      if (fail) {
        return route.fulfill({ status: 500, contentType: 'application/json',
          body: JSON.stringify({ code: 500, message: 'could not read the audit log', status: 'INTERNAL' }) });
      }
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(pages[t]) });
    });
    await page.goto('/audit-log');
    await rows(page).first().waitFor();
    assert.equal(await rows(page).count(), 2);
    assert.equal((await page.getByTestId('audit-count').textContent()).trim(), '2 entries shown');
    const denied = rows(page).first();
    assert.equal((await denied.getByTestId('audit-outcome').textContent()).trim(), 'PERMISSION_DENIED');
    assert.match(await denied.getByTestId('audit-outcome').getAttribute('class'), /badge-error/);
    assert.equal((await denied.getByTestId('audit-detail').textContent()).trim(), evil, 'the detail is shown as text');
    assert.equal((await rows(page).nth(1).getByTestId('audit-source').textContent()).trim(), 'local');
    assert.equal((await rows(page).nth(1).getByTestId('audit-detail').textContent()).trim(), '\u2014', 'no detail: a dash');

    await page.getByTestId('load-more-audit').click();
    await rows(page).nth(2).waitFor();
    assert.deepEqual(tokens, ['', 'p2']);
    assert.equal((await rows(page).nth(2).getByTestId('audit-target').textContent()).trim(), evil);
    assert.equal(await page.getByTestId('load-more-audit').isVisible(), false, 'no Load more on the last page');
    assert.equal((await page.getByTestId('audit-count').textContent()).trim(), '3 entries');
    assert.equal(await page.locator('img[src="x"]').count(), 0, 'no element made from server text');
    assert.equal(await page.evaluate(() => window.__xss), undefined);

    /* The server fails: an error, not "no entries". */
    fail = true;
    await page.getByTestId('audit-apply').click();
    const err = page.getByTestId('error');
    await err.waitFor();
    assert.match(await err.textContent(), /server had a problem \(500\)/);
    assert.equal(await page.getByTestId('audit-empty').isVisible(), false);
    assert.equal(await rows(page).count(), 0);
    b.assertClean(w, { strict: true, allow: /status of 500/ });
  });
});

test('4. without ViewAuditLog: no nav item, the permission state, and the API answers 403', T, async () => {
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.alice.email, users.alice.password);
    assert.equal(await page.getByTestId('nav-audit-log').isVisible(), false, 'no Audit log nav item');
    await page.goto('/audit-log');
    const msg = page.getByTestId('permission-message');
    await msg.waitFor();
    assert.equal(await page.getByTestId('page-title').textContent(), 'Audit log');
    assert.match(await msg.textContent(), /You can\u2019t view the audit log/);
    assert.match(await msg.textContent(), /ViewAuditLog/);
    assert.equal(await page.getByTestId('audit-filters').count(), 0);
    assert.equal(await page.getByTestId('audit-table').count(), 0);
    await b.shot(page, 'audit-log-no-permission.png');
    const r = await b.pageFetch(page, 'GET', `${V1}/auditLog`);
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.status, 'PERMISSION_DENIED');
    /* The 403 is the fetch just above, on purpose. */
    b.assertClean(w, { strict: true, allow: /status of 403/ });
  });
});
