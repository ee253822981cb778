'use strict';
// The Webhooks page (/webhooks) in a real browser: Debian's chromium driven by playwright-core
// against the real keygate binary on 127.0.0.1, with two webhooks to local receivers: one that
// takes every event, one that answers 500 to everything (so its events are retried, then given
// up).  The page shows each webhook's counts, last error and failures as the API gives them.
//
//   KEYGATE_BIN=build/keygate node --test --test-concurrency=1 tests/browser/webhooks.test.js
//
// Screenshots go to build/screenshots/ (webhooks.png, webhooks-no-permission.png).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const b = require('./helpers.js');
const { startReceiver } = require('../e2e/webhook_receiver.js');

const { h } = b;
const { V1 } = h;
const T = { timeout: 90000 };
const SECRET = 'whsec-browser-0123456789abcdefgh';

let browser, srv, dir, db, ok, bad, boot;
const users = {};

before(async () => {
  dir = b.freshDir();
  db = b.dbOf(dir);
  const file = path.join(dir, 'hook.secret');
  fs.writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
  users.admin = { email: 'hooks-admin@example.com', password: b.createUser(db, 'hooks-admin@example.com', 'accountadmin') };
  b.cliOk(db, ['role', 'create', 'token_admin', '--description', 'manages API tokens']);
  b.cliOk(db, ['role', 'grant-privilege', 'token_admin', 'ManageSecurity']);
  users.alice = { email: 'alice@example.com', password: b.createUser(db, 'alice@example.com', 'token_admin') };
  ok = await startReceiver(SECRET, '/events');
  bad = await startReceiver(SECRET, '/broken');
  bad.answer = () => 500;
  srv = await h.startServer({ dir, args: ['--webhook', `${ok.url} secret-file=${file}`, '--webhook', `${bad.url} secret-file=${file}`,
    '--webhook-attempts', '2', '--webhook-backoff', '1', '--webhook-timeout', '2'] });
  boot = await h.bootstrap(srv, 'browser webhooks');
  browser = await b.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (ok) await ok.close();
  if (bad) await bad.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const withPage = (fn) => b.withPage(browser, srv.base, null, fn);

test('the Webhooks page shows each webhook: deliveries, failures, the last error and the events given up', T, async () => {
  // an event given up by the broken receiver (2 attempts, 1 s apart)
  const given = await h.waitFor(async () => {
    const r = await h.api(srv.base, 'GET', `${V1}/webhook`, { token: boot.access });
    return r.json.result[1].failed >= 1 ? r.json.result : null;
  }, 20000, 200);
  assert.ok(given.ok, 'the broken webhook gives an event up within 20 s');
  await withPage(async ({ page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    await page.getByTestId('nav-webhooks').click();
    await page.waitForURL((u) => new URL(u).pathname === '/webhooks');
    await page.getByTestId('webhook-card').nth(1).waitFor();
    const cards = page.getByTestId('webhook-card');
    assert.equal(await cards.count(), 2);
    assert.deepEqual(await page.getByTestId('webhook-url').allTextContents(), [ok.url, bad.url]);
    // the good one: what the receiver got, nothing failed
    const good = cards.nth(0);
    const delivered = Number(await good.getByTestId('webhook-delivered').textContent());
    assert.ok(delivered >= 2 && delivered <= ok.got.length, `delivered ${delivered}, received ${ok.got.length}`);
    assert.equal(await good.getByTestId('webhook-failed').textContent(), '0');
    assert.equal(await good.getByTestId('webhook-health').textContent(), 'Delivering');
    await good.getByTestId('webhook-no-failures').waitFor();
    // the broken one: failures listed with their event and error
    const broken = cards.nth(1);
    assert.ok(Number(await broken.getByTestId('webhook-failed').textContent()) >= 1);
    assert.match(await broken.getByTestId('webhook-health').textContent(), /^(Retrying|Failing)$/);
    assert.match(await broken.getByTestId('webhook-last').textContent(), /HTTP 500/);
    const row = broken.getByTestId('webhook-failure-row').first();
    assert.match(await row.getAttribute('data-event'), /^evt_\d+$/);
    assert.match(await row.textContent(), /answered HTTP 500/);
    assert.deepEqual(await broken.locator('th').allTextContents(), ['Event', 'Type', 'Attempts', 'Last answer', 'Error', 'Given up']);
    // it refreshes by itself: a new event reaches the good receiver and its count
    const c = await h.api(srv.base, 'POST', `${V1}/apiToken`, { token: boot.access, body: { roleId: 'r-0000000001', description: 'seen' } });
    assert.equal(c.status, 201);
    await h.waitFor(() => ok.got.some((e) => e.json.data.target === c.json.clientId), 10000);
    const moved = await h.waitFor(async () => Number(await good.getByTestId('webhook-delivered').textContent()) > delivered, 12000, 250);
    assert.ok(moved.ok, 'the page shows the new delivery within 12 s without a reload');
    await b.shot(page, 'webhooks.png', { fullPage: true });
    b.assertClean(w, { strict: true });
  });
});

test('without ViewAuditLog: no Webhooks entry in the navigation, and the page says what is missing', T, async () => {
  await withPage(async ({ page, w }) => {
    await b.signIn(page, users.alice.email, users.alice.password);
    assert.equal(await page.getByTestId('nav-webhooks').isVisible(), false);
    await page.goto('/webhooks');
    await page.getByTestId('permission-message').waitFor();
    assert.match(await page.getByTestId('permission-message').textContent(), /ViewAuditLog/);
    assert.equal(await page.getByTestId('webhook-card').count(), 0);
    await b.shot(page, 'webhooks-no-permission.png');
    b.assertClean(w, { strict: true });
  });
});
