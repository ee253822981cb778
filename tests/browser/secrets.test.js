'use strict';
// A token's secrets in the web pane (issue 18): the list's secret count and "Expires soon"
// badge, and the Secrets dialog (Add secret shown once, Rotate with a grace period, Delete),
// in Debian's chromium against the real keygate binary on 127.0.0.1.
//
//   KEYGATE_BIN=build/keygate node --test --test-concurrency=1 tests/browser/secrets.test.js
//
// Screenshots go to build/screenshots/ (secrets-list.png, secrets.png, add-secret.png,
// rotate.png, rotated.png).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const b = require('./helpers.js');

const { h } = b;
const { V1 } = h;
const T = { timeout: 90000 };
const DAY = 86400000;

let browser;
let srv;
let dir;
const admin = { email: 'admin4@example.com' };
let adminRole;

before(async () => {
  dir = b.freshDir();
  const db = b.dbOf(dir);
  admin.password = b.createUser(db, admin.email, 'accountadmin');
  adminRole = b.roleId(db, 'accountadmin');
  srv = await h.startServer({ dir });
  browser = await b.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/* Runs fn({context, page, w}) signed in as the admin, in a fresh context closed afterwards. */
const signedIn = (fn) => b.withPage(browser, srv.base, admin, fn);
const call = b.pageCall;

function newToken(page, description, extra = {}) {
  return call(page, 'POST', `${V1}/apiToken`, { description, roleId: adminRole, ...extra }, 201).then((r) => r.json);
}

const inDays = (d) => new Date(Date.now() + d * DAY).toISOString();
const rowOf = (page, clientId) => page.locator(`[data-testid="token-row"][data-client-id="${clientId}"]`);
const secretRow = (page, secretId) => page.locator(`[data-testid="secret-row"][data-secret-id="${secretId}"]`);

/*
 * POST /oauth/v2/token with Basic auth, as a program does it: {status, json, text}.  Plain
 * fetch rather than h.exchange: doc/openapi.json does not list the answer's secret_id yet, and
 * h.exchange holds every answer to that document.
 */
async function exchange(clientId, secret) {
  const r = await fetch(`${srv.base}/oauth/v2/token`, {
    method: 'POST',
    headers: { Authorization: h.basic(clientId, secret), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: r.status, json, text };
}

/* The exchange, retried for a moment while it has not yet the status wanted (the server takes
 * up a change at once; the retry only bounds a slow machine). */
async function exchangeUntil(clientId, secret, status) {
  let r;
  await h.waitFor(async () => {
    r = await exchange(clientId, secret);
    return r.status === status;
  }, 3000, 100);
  assert.equal(r.status, status, `exchange for ${clientId}: ${r.text}`);
  return r;
}

/* Opens the Secrets dialog of clientId from its row and waits for its rows. */
async function openSecrets(page, clientId) {
  await rowOf(page, clientId).getByTestId('secrets').click();
  const dlg = page.getByTestId('secrets-dialog');
  await dlg.waitFor();
  await dlg.getByTestId('secret-row').first().waitFor();
  return dlg;
}

/* Step 2 of Add secret or Rotate: reads the secret once, ticks the box, saves. */
async function saveNewSecret(page, clientId) {
  const secret = (await page.getByTestId('secret-key').textContent()).trim();
  assert.match(secret, /^kgs_[0-9A-Za-z]{38}$/);
  assert.ok(h.secretChecksumOk(secret), 'the new secret carries a valid checksum');
  assert.equal((await page.getByTestId('client-id').textContent()).trim(), clientId, 'the same Client ID');
  assert.match(await page.getByTestId('secret-warning').textContent(), /will not be shown again/i);
  const save = page.getByTestId('save-secret');
  assert.equal(await save.isDisabled(), true, 'Save secret waits for the box');
  return { secret, save };
}

/* Shared by tests 2–4: the token whose secrets they change. */
const tok = {};

test('1. the list shows each token\'s live secrets and an "Expires soon" badge only when due', T, async () => {
  await signedIn(async ({ page, w }) => {
    const soon = await newToken(page, 'expires in 3 days', { expiresOn: inDays(3) });
    const later = await newToken(page, 'expires in 30 days', { expiresOn: inDays(30) });
    const never = await newToken(page, 'never expires');
    for (const d of ['second', 'third']) await call(page, 'POST', `${V1}/apiToken/${never.clientId}/secret`, { description: d }, 201);
    /* Its only live secret expires in 2 days: the token stops then though it has no expiry. */
    const bySecret = await newToken(page, 'its secret expires in 2 days');
    const first = (await call(page, 'GET', `${V1}/apiToken/${bySecret.clientId}/secret`, undefined, 200)).json.result[0];
    await call(page, 'POST', `${V1}/apiToken/${bySecret.clientId}/secret`, { description: 'short-lived', expiresOn: inDays(2) }, 201);
    await call(page, 'DELETE', `${V1}/apiToken/${bySecret.clientId}/secret/${first.secretId}`, undefined, 204);
    /* Its only live secret expired a moment ago: it works no more. */
    const gone = await newToken(page, 'its secret has expired');
    const goneFirst = (await call(page, 'GET', `${V1}/apiToken/${gone.clientId}/secret`, undefined, 200)).json.result[0];
    await call(page, 'POST', `${V1}/apiToken/${gone.clientId}/secret`,
      { expiresOn: new Date(Date.now() + 1500).toISOString() }, 201);
    await call(page, 'DELETE', `${V1}/apiToken/${gone.clientId}/secret/${goneFirst.secretId}`, undefined, 204);
    const revoked = await newToken(page, 'revoked, expiring', { expiresOn: inDays(1) });
    await call(page, 'POST', `${V1}/apiToken/${revoked.clientId}:revoke`, {}, 200);

    await h.sleep(1600);
    await page.reload();
    await rowOf(page, soon.clientId).waitFor();
    const want = [[soon, '1', true], [later, '1', false], [never, '3', false], [bySecret, '1', true], [gone, '0', false],
      [revoked, '0', false]];
    for (const [t, count, badge] of want) {
      const row = rowOf(page, t.clientId);
      const cell = row.getByTestId('row-secret-count');
      if (t !== revoked) {
        assert.equal(await cell.getAttribute('data-count'), count, `${t.description}: secret count`);
        assert.equal((await cell.textContent()).trim(), `${count} live`, `${t.description}: the count in words`);
      }
      assert.equal(await row.getByTestId('expires-soon').count(), badge ? 1 : 0, `${t.description}: Expires soon badge`);
      if (badge) {
        assert.equal((await row.getByTestId('expires-soon').textContent()).trim(), 'Expires soon');
        assert.match(await row.getByTestId('expires-soon').getAttribute('title'), /^Stops working /);
      }
    }
    assert.equal(await rowOf(page, gone.clientId).getByTestId('expired').textContent(), 'Expired', 'no live secret: Expired');
    assert.equal(await rowOf(page, later.clientId).getByTestId('expired').count(), 0);
    assert.equal((await rowOf(page, revoked.clientId).getByTestId('row-secret-count').textContent()).trim(), '\u2014',
      'a revoked token shows no count');
    assert.equal(await rowOf(page, soon.clientId).getByTestId('token-status').textContent(), 'Active', 'the status stays Active');
    await page.mouse.move(0, 0);
    await b.shot(page, 'secrets-list.png');
    b.assertClean(w, { strict: true });
  });
});

test('2. the Secrets dialog lists the secrets; Add secret shows the new one once and it exchanges', T, async () => {
  await signedIn(async ({ context, page, w }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.base });
    const t = await newToken(page, 'rotating deploys');
    const other = (await call(page, 'POST', `${V1}/apiToken/${t.clientId}/secret`, { description: 'build host' }, 201)).json;
    Object.assign(tok, { clientId: t.clientId, first: t.clientSecret, other: other.clientSecret });
    await page.reload();

    const dlg = await openSecrets(page, t.clientId);
    assert.equal(await dlg.evaluate((d) => d.tagName === 'DIALOG' && d.open), true, 'a real, open <dialog>');
    const rows = dlg.getByTestId('secret-row');
    assert.equal(await rows.count(), 2);
    const prefixes = await rows.getByTestId('secret-prefix').allTextContents();
    assert.deepEqual(prefixes.map((p) => p.trim()), [`${t.clientSecret.slice(0, 8)}\u2026`, `${other.clientSecret.slice(0, 8)}\u2026`],
      'each secret by its prefix, oldest first');
    assert.equal((await rows.nth(1).getByTestId('secret-description').textContent()).trim(), 'build host');
    assert.deepEqual(await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-status'))), ['Active', 'Active']);
    assert.match(await dlg.getByTestId('secret-live-count').textContent(), /^2 live secrets/);
    assert.equal(await dlg.getByTestId('last-secret-note').count(), 0);
    assert.equal(await rows.getByTestId('delete-secret').first().isEnabled(), true, 'either of two may be deleted');
    tok.firstId = await rows.nth(0).getAttribute('data-secret-id');
    tok.otherId = await rows.nth(1).getAttribute('data-secret-id');
    await b.shot(page, 'secrets.png');

    await dlg.getByTestId('add-secret').click();
    const add = page.getByTestId('add-secret-dialog');
    await add.waitFor();
    await add.getByTestId('secret-description').fill('new deploy host');
    await add.getByTestId('secret-expires').selectOption({ label: 'In 90 days' });
    await add.getByTestId('create-secret').click();
    await page.getByTestId('secret-key').waitFor();
    const { secret, save } = await saveNewSecret(page, t.clientId);
    assert.match(await page.getByTestId('secret-summary').textContent(), /new deploy host/);
    await b.shot(page, 'add-secret.png');

    /* Copy puts the secret on the clipboard. */
    await page.getByTestId('copy-secret').click();
    await page.getByTestId('copy-secret').filter({ hasText: 'Copied' }).waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
    if (clip !== null) assert.equal(clip, secret, 'Copy puts the secret key on the clipboard');

    /* Closing another way asks first; dismissing keeps it on screen. */
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); d.dismiss(); });
    await page.keyboard.press('Escape');
    await page.waitForTimeout(200);
    assert.match(asked, /not be shown again/i);
    assert.ok(await page.getByTestId('secret-key').isVisible(), 'still shown after "Cancel" in the confirmation');

    await page.getByTestId('saved-checkbox').check();
    await save.click();
    await add.waitFor({ state: 'detached' });
    assert.ok(await dlg.isVisible(), 'back in the Secrets dialog');
    const newRow = rows.filter({ hasText: secret.slice(0, 8) });
    await newRow.waitFor();
    assert.equal(await rows.count(), 3);
    assert.equal((await newRow.getByTestId('secret-description').textContent()).trim(), 'new deploy host');
    assert.equal(await newRow.getAttribute('data-status'), 'Active');
    assert.match(await newRow.textContent(), /never/, 'Last used says never');
    const secretId = await newRow.getAttribute('data-secret-id');
    assert.match(secretId, /^s-\d{10}$/);
    await rowOf(page, t.clientId).locator('[data-testid="row-secret-count"][data-count="3"]').waitFor();
    assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page after Save secret');

    /* The new secret works, and the exchange says which secret it was. */
    const r = await exchangeUntil(t.clientId, secret, 200);
    assert.equal(r.json.secret_id, secretId, 'secret_id is the new secret\'s');
    assert.equal(h.decodeJwt(r.json.access_token).payload.secret_id, secretId);
    Object.assign(tok, { added: secret, addedId: secretId });

    await page.getByTestId('dialog-done').click();
    await dlg.waitFor({ state: 'detached' });
    b.assertClean(w, { strict: true });
  });
});

test('3. Rotate says what will happen; "At once" stops the old secrets (401) and shows them Expired', T, async () => {
  assert.ok(tok.addedId, 'test 2 made the token');
  await signedIn(async ({ page, w }) => {
    const dlg = await openSecrets(page, tok.clientId);
    await dlg.getByTestId('rotate-secrets').click();
    const rot = page.getByTestId('rotate-dialog');
    await rot.waitFor();
    assert.equal(await rot.getByTestId('grace-86400').isChecked(), true, '24 hours by default');
    const effect = rot.getByTestId('rotate-effect');
    assert.match(await effect.textContent(), /^The 3 current secrets keep working until .+; then only the new one does\./);
    await rot.getByLabel('In 7 days').check();
    const week = new Date(Date.now() + 7 * DAY).toLocaleDateString();
    assert.ok((await effect.textContent()).includes(week), `in 7 days: ${await effect.textContent()}`);
    await rot.getByLabel('At once').check();
    assert.match(await effect.textContent(), /^The 3 current secrets stop working at once; only the new one works/);
    await b.shot(page, 'rotate.png');
    await rot.getByTestId('confirm-rotate').click();
    await page.getByTestId('secret-key').waitFor();
    const { secret, save } = await saveNewSecret(page, tok.clientId);
    assert.match(await page.getByTestId('secret-summary').textContent(), /The older secrets stopped working/);
    await page.getByTestId('saved-checkbox').check();
    await save.click();
    await rot.waitFor({ state: 'detached' });

    const rows = dlg.getByTestId('secret-row');
    await dlg.locator('[data-testid="secret-row"][data-status="Expired"]').nth(2).waitFor();
    assert.equal(await rows.count(), 4);
    for (const id of [tok.firstId, tok.otherId, tok.addedId]) {
      assert.equal(await secretRow(page, id).getAttribute('data-status'), 'Expired', `${id} shows Expired`);
      assert.equal((await secretRow(page, id).getByTestId('secret-status').textContent()).trim(), 'Expired');
    }
    const newRow = rows.filter({ hasText: secret.slice(0, 8) });
    assert.equal(await newRow.getAttribute('data-status'), 'Active');
    const newId = await newRow.getAttribute('data-secret-id');
    await rowOf(page, tok.clientId).locator('[data-testid="row-secret-count"][data-count="1"]').waitFor();

    for (const old of [tok.first, tok.other, tok.added]) {
      const r = await exchangeUntil(tok.clientId, old, 401);
      assert.equal(r.json.error, 'invalid_client', 'an old secret after Rotate at once');
    }
    const ok = await exchangeUntil(tok.clientId, secret, 200);
    assert.equal(ok.json.secret_id, newId);
    await b.shot(page, 'rotated.png');
    Object.assign(tok, { live: secret, liveId: newId });
    b.assertClean(w, { strict: true });
  });
});

test('4. Delete removes an expired secret; the last live one cannot be deleted, and the pane says why', T, async () => {
  assert.ok(tok.liveId, 'test 3 rotated');
  await signedIn(async ({ page, w }) => {
    const dlg = await openSecrets(page, tok.clientId);
    const rows = dlg.getByTestId('secret-row');
    assert.equal(await rows.count(), 4);

    /* Dismissing the confirmation keeps it. */
    page.once('dialog', (d) => d.dismiss());
    await secretRow(page, tok.firstId).getByTestId('delete-secret').click();
    await page.waitForTimeout(300);
    assert.equal(await rows.count(), 4, 'a dismissed confirmation deletes nothing');

    let question = '';
    page.once('dialog', (d) => { question = d.message(); d.accept(); });
    await secretRow(page, tok.firstId).getByTestId('delete-secret').click();
    await secretRow(page, tok.firstId).waitFor({ state: 'detached' });
    assert.match(question, new RegExp(`Delete the expired secret ${tok.first.slice(0, 8)}`));
    assert.equal(await rows.count(), 3);
    const listed = (await call(page, 'GET', `${V1}/apiToken/${tok.clientId}/secret`, undefined, 200)).json.result;
    assert.ok(!listed.some((s) => s.secretId === tok.firstId), 'the server no longer lists it');

    /* The last live secret: Delete is disabled and a note says why. */
    const lastDel = secretRow(page, tok.liveId).getByTestId('delete-secret');
    assert.equal(await lastDel.isDisabled(), true, 'the last live secret cannot be deleted');
    assert.equal(await lastDel.getAttribute('aria-describedby'), 'secret-note');
    const why = dlg.getByTestId('last-secret-note');
    assert.match(await why.textContent(), /last live secret, so it can\u2019t be deleted: a token keeps at least one/);
    assert.equal(await secretRow(page, tok.otherId).getByTestId('delete-secret').isEnabled(), true, 'an expired one still may be');

    /* When the pane's list is out of date, the server's refusal is shown in words. */
    await dlg.getByTestId('add-secret').click();
    await page.getByTestId('create-secret').click();
    await page.getByTestId('secret-key').waitFor();
    const extra = (await page.getByTestId('secret-key').textContent()).trim();
    await page.getByTestId('saved-checkbox').check();
    await page.getByTestId('save-secret').click();
    const extraRow = rows.filter({ hasText: extra.slice(0, 8) });
    await extraRow.waitFor();
    assert.equal(await lastDel.isEnabled(), true, 'with two live secrets either may be deleted');
    assert.equal(await why.count(), 0);
    const extraId = await extraRow.getAttribute('data-secret-id');
    await call(page, 'DELETE', `${V1}/apiToken/${tok.clientId}/secret/${extraId}`, undefined, 204); /* elsewhere */
    page.once('dialog', (d) => d.accept());
    await lastDel.click();
    const err = dlg.getByTestId('secrets-error');
    await err.filter({ hasText: 'at least one live secret' }).waitFor();
    assert.match(await err.textContent(), /A token keeps at least one live secret: revoke the token instead\./);
    await extraRow.waitFor({ state: 'detached' }); /* read again: as it is now */
    assert.equal(await secretRow(page, tok.liveId).getByTestId('delete-secret').isDisabled(), true);
    await exchangeUntil(tok.clientId, tok.live, 200);

    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
    /* The one 400 is the refused delete, provoked above. */
    b.assertClean(w, { strict: true, allow: /status of 400 \(Bad Request\)/ });
  });
});

test('5. a revoked token\'s secrets are shown, with nothing to change', T, async () => {
  await signedIn(async ({ page, w }) => {
    const t = await newToken(page, 'revoked one');
    await call(page, 'POST', `${V1}/apiToken/${t.clientId}:revoke`, {}, 200);
    await page.reload();
    /* The list's row has no count to open them by: the token's own page has Secrets…. */
    assert.equal(await rowOf(page, t.clientId).getByTestId('secrets').count(), 0);
    await rowOf(page, t.clientId).getByTestId('token-link').click();
    await page.waitForURL((u) => new URL(u).pathname === `/api-auth-token/${t.clientId}`);
    await page.getByTestId('open-secrets').click();
    const dlg = page.getByTestId('secrets-dialog');
    await dlg.getByTestId('secret-row').first().waitFor();
    assert.match(await dlg.getByTestId('revoked-note').textContent(), /revoked/);
    assert.equal(await dlg.getByTestId('secret-row').count(), 1);
    for (const id of ['add-secret', 'rotate-secrets', 'delete-secret']) {
      assert.equal(await dlg.getByTestId(id).count(), 0, `no ${id} for a revoked token`);
    }
    await dlg.getByTestId('dialog-done').click();
    await dlg.waitFor({ state: 'detached' });
    b.assertClean(w, { strict: true });
  });
});

test('6. at 5 live secrets Add secret and Rotate are disabled, and the pane says why', T, async () => {
  await signedIn(async ({ page, w }) => {
    const t = await newToken(page, 'full');
    for (let i = 0; i < 4; i++) await call(page, 'POST', `${V1}/apiToken/${t.clientId}/secret`, {}, 201);
    await page.reload();
    const dlg = await openSecrets(page, t.clientId);
    assert.equal(await dlg.getByTestId('secret-row').count(), 5);
    assert.equal(await dlg.getByTestId('add-secret').isDisabled(), true);
    assert.equal(await dlg.getByTestId('rotate-secrets').isDisabled(), true);
    assert.equal(await dlg.getByTestId('add-secret').getAttribute('aria-describedby'), 'secret-note');
    assert.match(await dlg.getByTestId('secret-limit-note').textContent(), /5 live secrets, the most it may hold: delete one/);
    page.once('dialog', (d) => d.accept());
    await dlg.getByTestId('delete-secret').first().click();
    await dlg.getByTestId('secret-limit-note').waitFor({ state: 'detached' });
    assert.equal(await dlg.getByTestId('add-secret').isEnabled(), true, 'one deleted: room for another');
    await rowOf(page, t.clientId).locator('[data-testid="row-secret-count"][data-count="4"]').waitFor();
    /* Closing goes back to the row's Client ID, redrawn meanwhile. */
    await dlg.getByTestId('dialog-done').click();
    await dlg.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.textContent), t.clientId);
    b.assertClean(w, { strict: true });
  });
});
