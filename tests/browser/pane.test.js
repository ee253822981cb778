'use strict';
// The web pane in a real browser: Debian's chromium driven by playwright-core against the
// real keygate binary on 127.0.0.1 with a throw-away database.
//
//   KEYGATE_BIN=build/keygate node --test --test-concurrency=1 tests/browser/
//
// Screenshots go to build/screenshots/ (list.png, dialog.png, secret.png, and the others).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const b = require('./helpers.js');

const { h } = b;
const { V1 } = h;
const T = { timeout: 90000 };

let browser;
let srv;
let dir;
let db;
const users = {};
const roles = {};

before(async () => {
  dir = b.freshDir();
  db = b.dbOf(dir);
  /* Users and roles first, with the CLI, then the server reads them at start-up. */
  users.admin = { email: 'admin2@example.com', password: b.createUser(db, 'admin2@example.com', 'accountadmin') };
  b.cliOk(db, ['role', 'create', 'viewer', '--description', 'no privileges at all']);
  users.viewer = { email: 'viewer@example.com', password: b.createUser(db, 'viewer@example.com', 'viewer') };
  b.cliOk(db, ['role', 'create', 'token_admin', '--description', 'manages API tokens']);
  b.cliOk(db, ['role', 'grant-privilege', 'token_admin', 'ManageSecurity']);
  b.cliOk(db, ['role', 'create', 'other_team', '--description', 'a role alice does not hold']);
  users.alice = { email: 'alice@example.com', password: b.createUser(db, 'alice@example.com', 'token_admin') };
  for (const r of ['viewer', 'token_admin', 'other_team', 'accountadmin', 'public']) roles[r] = b.roleId(db, r);
  srv = await h.startServer({ dir });
  browser = await b.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/* Runs fn({context, page, w}) in a fresh browser context, closed afterwards. */
async function withPage(base, fn) {
  const p = await b.newPage(browser, base);
  try {
    return await fn(p);
  } finally {
    await p.context.close();
  }
}

const rowOf = (page, clientId) => page.locator(`[data-testid="token-row"][data-client-id="${clientId}"]`);

/* Shared by tests 2–4: the token generated in the pane. */
const made = {};

test('1. sign in: a wrong password shows an error in the page; the right one opens the pane', T, async () => {
  await withPage(srv.base, async ({ page, w }) => {
    const res = await page.goto('/login');
    assert.equal(res.status(), 200);
    const csp = res.headers()['content-security-policy'] || '';
    assert.match(csp, /script-src 'self'/, `CSP on /login: ${csp}`);

    await page.getByTestId('login-email').fill(users.admin.email);
    await page.getByTestId('login-password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    const err = page.getByTestId('login-error');
    await err.waitFor({ state: 'visible' });
    assert.match(await err.textContent(), /wrong email or password/i);
    assert.equal(new URL(page.url()).pathname, '/login', 'a failed sign-in stays on /login');
    await b.shot(page, 'login.png');

    await b.signIn(page, users.admin.email, users.admin.password);
    assert.equal(await page.getByTestId('page-title').textContent(), 'API auth token');
    assert.ok(await page.getByTestId('nav-api-auth-token').isVisible(), 'admin sees API auth token in the nav');
    assert.ok(await page.getByTestId('nav-roles').isVisible());
    assert.ok(await page.getByTestId('nav-users').isVisible());
    assert.ok(await page.getByTestId('sign-out').isVisible());
    assert.equal(await page.getByTestId('nav-api-auth-token').getAttribute('aria-current'), 'page');
    b.assertClean(w);
  });

  /* A page asked for while signed out comes back after sign-in (?next=). */
  await withPage(srv.base, async ({ page, w }) => {
    await page.goto('/roles');
    const u = new URL(page.url());
    assert.equal(u.pathname, '/login', 'signed out, /roles redirects to /login');
    assert.equal(u.searchParams.get('next'), '/roles');
    await page.getByTestId('login-email').fill(users.admin.email);
    await page.getByTestId('login-password').fill(users.admin.password);
    await page.getByTestId('login-submit').click();
    await page.waitForURL((x) => new URL(x).pathname === '/roles');
    await page.getByTestId('role-row').first().waitFor();
    b.assertClean(w, { strict: true });
  });
});

test('2. generate a token: secret shown once, Save token disabled until confirmed, row Active', T, async () => {
  await withPage(srv.base, async ({ context, page, w }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.base });
    await b.signIn(page, users.admin.email, users.admin.password);
    await page.getByTestId('generate-token').click();
    const dlg = page.getByTestId('generate-dialog');
    await dlg.waitFor();
    assert.equal(await dlg.evaluate((d) => d.tagName === 'DIALOG' && d.open), true, 'a real, open <dialog>');
    await page.getByTestId('token-description').fill('CI deploys');
    await page.getByTestId('role-select').selectOption({ label: 'accountadmin' });
    await b.shot(page, 'dialog.png');
    await page.getByTestId('create-token').click();

    const secretEl = page.getByTestId('secret-key');
    await secretEl.waitFor();
    const secret = (await secretEl.textContent()).trim();
    const clientId = (await page.getByTestId('client-id').textContent()).trim();
    assert.match(secret, /^kgs_[0-9A-Za-z]{38}$/);
    assert.ok(h.secretChecksumOk(secret), 'the secret key carries a valid checksum');
    assert.match(clientId, h.CLIENT_ID_RE);
    assert.match(await page.getByTestId('secret-warning').textContent(), /will not be shown again/i);
    const save = page.getByTestId('save-token');
    assert.equal(await save.isDisabled(), true, 'Save token is disabled until the box is ticked');
    assert.match(await page.locator('label[for="saved-checkbox"]').textContent(), /I have saved the secret key/);
    await b.shot(page, 'secret.png');

    /* Copy puts the secret on the clipboard. */
    await page.getByTestId('copy-secret').click();
    await page.getByTestId('copy-secret').filter({ hasText: 'Copied' }).waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
    if (clip !== null) assert.equal(clip, secret, 'Copy puts the secret key on the clipboard');

    /* Closing any other way asks first; dismissing keeps the secret on screen. */
    const asked = [];
    const dismiss = (d) => { asked.push(d.message()); d.dismiss(); };
    page.on('dialog', dismiss);
    await page.keyboard.press('Escape');
    await page.getByTestId('dialog-close').click();
    await page.mouse.click(8, 8); /* the backdrop */
    await page.waitForTimeout(200);
    page.off('dialog', dismiss);
    assert.equal(asked.length, 3, `Escape, × and the backdrop each ask: ${JSON.stringify(asked)}`);
    for (const m of asked) assert.match(m, /not be shown again/i);
    assert.ok(await secretEl.isVisible(), 'the dialog stays open after "Cancel" in the confirmation');
    assert.equal(await save.isDisabled(), true);

    await page.getByTestId('saved-checkbox').check();
    assert.equal(await save.isEnabled(), true, 'ticking the box enables Save token');
    await page.getByTestId('saved-checkbox').uncheck();
    assert.equal(await save.isDisabled(), true, 'unticking disables it again');
    await page.getByTestId('saved-checkbox').check();
    await save.click();
    await dlg.waitFor({ state: 'detached' });

    const row = rowOf(page, clientId);
    await row.waitFor();
    assert.equal((await row.getByTestId('token-status').textContent()).trim(), 'Active');
    assert.equal((await row.getByTestId('row-description').textContent()).trim(), 'CI deploys');
    assert.equal((await row.getByTestId('row-role').textContent()).trim(), 'accountadmin');
    assert.match(await row.textContent(), /never/, 'Last access says never');
    assert.equal(await row.getByTestId('revoke').count(), 1);
    assert.equal(await page.getByTestId('token-row').first().getAttribute('data-client-id'), clientId, 'newest first');
    assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page after Save token');

    await page.reload();
    await rowOf(page, clientId).waitFor();
    const html = await page.content();
    const text = await page.evaluate(() => document.body.innerText);
    assert.ok(!html.includes(secret) && !text.includes(secret), 'no secret anywhere after a reload');
    assert.ok(!/kgs_[0-9A-Za-z]{38}/.test(html), 'no secret-shaped string in the page');
    b.assertClean(w, { strict: true });
    Object.assign(made, { clientId, secret });
  });
});

test('3. the generated token works against POST /oauth/v2/token (curl)', T, async () => {
  assert.ok(made.clientId, 'test 2 made a token');
  const r = b.curlExchange(srv.base, made.clientId, made.secret);
  assert.equal(r.status, 200, `curl exchange: ${r.status} ${r.text}`);
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(typeof r.json.access_token, 'string');
  const list = await h.api(srv.base, 'GET', `${V1}/apiToken?pageSize=1`, { token: r.json.access_token });
  assert.equal(list.status, 200, 'the access token calls the API');

  /* The pane now shows a Last access time instead of "never". */
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    const ok = await h.waitFor(async () => {
      await page.reload();
      const row = rowOf(page, made.clientId);
      await row.waitFor();
      return !/never/.test(await row.textContent());
    }, 5000, 500);
    assert.ok(ok.ok, 'Last access shows a time after the token was used');
    b.assertClean(w, { strict: true });
  });
});

test('4. revoke in the pane (after confirming) → Revoked, no Revoke button, exchange fails', T, async () => {
  assert.ok(made.clientId, 'test 2 made a token');
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    /* A few more tokens for the list screenshot, one of them used. */
    const s = (await b.pageSession(page)).json;
    for (const [desc, role] of [['Grafana dashboard (read-only)', 'token_admin'], ['Nightly backup job', 'accountadmin'],
      ['Terraform provider — staging', 'public']]) {
      const r = await b.pageFetch(page, 'POST', `${V1}/apiToken`, { csrf: s.csrfToken, body: { description: desc, roleId: roles[role] } });
      assert.equal(r.status, 201, `create ${desc}: ${r.text}`);
      if (desc.startsWith('Nightly')) assert.equal(b.curlExchange(srv.base, r.json.clientId, r.json.clientSecret).status, 200);
    }
    await page.reload();
    const row = rowOf(page, made.clientId);
    await row.waitFor();

    /* Dismissing the confirmation changes nothing. */
    page.once('dialog', (d) => d.dismiss());
    await row.getByTestId('revoke').click();
    await page.waitForTimeout(300);
    assert.equal(await row.getAttribute('data-status'), 'Active', 'a dismissed confirmation keeps the token');

    let question = '';
    page.once('dialog', (d) => { question = d.message(); d.accept(); });
    await row.getByTestId('revoke').click();
    await page.locator(`[data-testid="token-row"][data-client-id="${made.clientId}"][data-status="Revoked"]`).waitFor();
    assert.match(question, new RegExp(`Revoke the token ${made.clientId}`));
    assert.equal((await rowOf(page, made.clientId).getByTestId('token-status').textContent()).trim(), 'Revoked');
    assert.equal(await rowOf(page, made.clientId).getByTestId('revoke').count(), 0, 'no Revoke button on a revoked row');

    const ex = await h.exchange(srv.base, made.clientId, made.secret);
    h.assertOAuthError(ex, 401, 'invalid_client', 'exchange after a revoke in the pane');
    const c = b.curlExchange(srv.base, made.clientId, made.secret);
    assert.equal(c.status, 401);

    await page.reload();
    await rowOf(page, made.clientId).waitFor();
    assert.equal(await rowOf(page, made.clientId).getAttribute('data-status'), 'Revoked', 'still Revoked after a reload');
    assert.equal(await rowOf(page, made.clientId).getByTestId('revoke').count(), 0);
    await page.mouse.move(0, 0);
    await b.shot(page, 'list.png');
    b.assertClean(w, { strict: true });
  });
});

test('5. without ManageSecurity: no nav item, a clear message, and the API answers 403', T, async () => {
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.viewer.email, users.viewer.password);
    const msg = page.getByTestId('permission-message');
    await msg.waitFor();
    assert.match(await msg.textContent(), /ManageSecurity/);
    assert.match(await msg.textContent(), /privilege/);
    assert.equal(await page.getByTestId('nav-api-auth-token').isVisible(), false, 'no API auth token nav item');
    assert.equal(await page.getByTestId('nav-overview').isVisible(), false, 'no Overview nav item');
    assert.ok(await page.getByTestId('nav-roles').isVisible());
    assert.equal(await page.getByTestId('generate-token').count(), 0, 'no Generate new token button');
    assert.equal(await page.getByTestId('token-row').count(), 0);
    await b.shot(page, 'no-permission.png');

    const s = await b.pageSession(page);
    assert.equal(s.status, 200);
    assert.equal(s.json.privileges.ManageSecurity, false);
    const r = await b.pageFetch(page, 'POST', `${V1}/apiToken`,
      { csrf: s.json.csrfToken, body: { description: 'sneaky', roleId: roles.viewer } });
    assert.equal(r.status, 403, `POST /apiToken without ManageSecurity: ${r.text}`);
    assert.equal(r.json.status, 'PERMISSION_DENIED');
    const g = await b.pageFetch(page, 'GET', `${V1}/apiToken`);
    assert.equal(g.status, 403, 'listing tokens is refused too');

    for (const p of ['/roles', '/users', '/overview', '/api-auth-token/kgc_someone']) {
      await page.goto(p);
      const m = page.getByTestId('permission-message');
      await m.waitFor();
      assert.match(await m.textContent(), /ManageSecurity/, `${p} explains what is missing`);
    }
    b.assertClean(w);
  });
});

test('6. the Role drop-down offers only roles in the signed-in user\'s active role set', T, async () => {
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.alice.email, users.alice.password);
    await page.getByTestId('generate-token').click();
    const select = page.getByTestId('role-select');
    await select.waitFor();
    const options = await select.locator('option').evaluateAll((os) => os.filter((o) => o.value).map((o) => o.textContent));
    assert.ok(options.includes('token_admin'), `token_admin offered: ${options}`);
    assert.ok(options.includes('public'), `public offered: ${options}`);
    for (const no of ['other_team', 'accountadmin', 'viewer']) {
      assert.ok(!options.includes(no), `${no} must not be offered: ${options}`);
    }

    /* The server agrees: a role outside the set is refused even when posted directly. */
    const s = (await b.pageSession(page)).json;
    const r = await b.pageFetch(page, 'POST', `${V1}/apiToken`,
      { csrf: s.csrfToken, body: { description: 'escalate', roleId: roles.other_team } });
    assert.equal(r.status, 403, `a token with a role outside the set: ${r.text}`);

    /* And a token with her own role goes through the whole dialog. */
    await select.selectOption({ label: 'token_admin' });
    await page.getByTestId('token-description').fill('alice script');
    await page.getByTestId('create-token').click();
    const clientId = (await page.getByTestId('client-id').textContent()).trim();
    await page.getByTestId('saved-checkbox').check();
    await page.getByTestId('save-token').click();
    const row = rowOf(page, clientId);
    await row.waitFor();
    assert.equal((await row.getByTestId('row-role').textContent()).trim(), 'token_admin');
    b.assertClean(w);
  });
});

test('7. a forged form post (or a fetch) without the CSRF token is refused', T, async () => {
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    const countTokens = async () => {
      const r = await b.pageFetch(page, 'GET', `${V1}/apiToken?pageSize=100`);
      assert.equal(r.status, 200);
      return r.json.result.length;
    };
    const before = await countTokens();
    const victim = (await b.pageFetch(page, 'GET', `${V1}/apiToken?pageSize=100`)).json.result.find((t) => t.status === 'Active');

    /* A real HTML form, urlencoded, posted from the signed-in page. */
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${srv.base}${V1}/apiToken` && r.request().method() === 'POST'),
      page.evaluate((roleId) => {
        const f = document.createElement('form');
        f.method = 'post';
        f.action = '/public/api/v1/apiToken';
        f.enctype = 'application/x-www-form-urlencoded';
        for (const [k, v] of [['description', 'forged'], ['roleId', roleId]]) {
          const i = document.createElement('input');
          i.type = 'hidden';
          i.name = k;
          i.value = v;
          f.appendChild(i);
        }
        document.body.appendChild(f);
        f.submit();
      }, roles.accountadmin).catch(() => null),
    ]);
    assert.equal(resp.status(), 403, `forged form post: ${resp.status()} ${await resp.text()}`);
    await page.goto('/api-auth-token');
    await page.getByTestId('token-row').first().waitFor();

    const s = (await b.pageSession(page)).json;
    const noHeader = await b.pageFetch(page, 'POST', `${V1}/apiToken`, { body: { description: 'no csrf', roleId: roles.public } });
    assert.equal(noHeader.status, 403, `JSON POST without X-CSRF-Token: ${noHeader.text}`);
    assert.equal(noHeader.json.status, 'PERMISSION_DENIED');
    const wrong = await b.pageFetch(page, 'POST', `${V1}/apiToken`,
      { csrf: 'x'.repeat(s.csrfToken.length), body: { description: 'wrong csrf', roleId: roles.public } });
    assert.equal(wrong.status, 403, `a wrong X-CSRF-Token: ${wrong.text}`);
    const revoke = await b.pageFetch(page, 'POST', `${V1}/apiToken/${victim.clientId}:revoke`, { body: {} });
    assert.equal(revoke.status, 403, 'a revoke without the CSRF token');
    const logout = await b.pageFetch(page, 'POST', '/logout', { body: {} });
    assert.equal(logout.status, 403, 'POST /logout without the CSRF token');

    assert.equal(await countTokens(), before, 'no token was created');
    const still = await b.pageFetch(page, 'GET', `${V1}/apiToken/${victim.clientId}`);
    assert.equal(still.json.status, 'Active', 'the token is still active');
    /* The real pane, with the token, still works in the same session. */
    const ok = await b.pageFetch(page, 'POST', `${V1}/apiToken`, { csrf: s.csrfToken, body: { description: 'with csrf', roleId: roles.public } });
    assert.equal(ok.status, 201, `with the CSRF token: ${ok.text}`);
    b.assertClean(w);
  });
});

test('8. an expired session: the next action says so, with a way to sign in again', T, async () => {
  const dir2 = b.freshDir();
  const db2 = b.dbOf(dir2);
  const pw = b.createUser(db2, 'idle@example.com', 'accountadmin');
  const idle = await h.startServer({ dir: dir2, args: ['--session-idle', '2'] });
  try {
    await withPage(idle.base, async ({ page, w }) => {
      await b.signIn(page, 'idle@example.com', pw);
      await page.getByTestId('token-empty').waitFor();
      const s = (await b.pageSession(page)).json;
      assert.equal(s.idleTimeoutSeconds, 2);
      await h.sleep(3000);
      await page.getByTestId('generate-token').click();
      await page.getByTestId('role-select').selectOption({ label: 'accountadmin' });
      await page.getByTestId('create-token').click();
      const err = page.getByTestId('dialog-error');
      await err.filter({ hasText: 'session has expired' }).waitFor();
      assert.match(await err.textContent(), /Your session has expired\. Sign in again\./);
      const href = await err.locator('a').getAttribute('href');
      assert.match(href, /^\/login\?next=%2Fapi-auth-token/);
      await b.shot(page, 'expired.png');

      await err.locator('a').click();
      await page.waitForURL((u) => new URL(u).pathname === '/login');
      assert.match(await page.getByTestId('login-notice').textContent(), /session has expired/i);
      await page.goto('/api-auth-token');
      assert.equal(new URL(page.url()).pathname, '/login', 'an expired session is sent to /login');
      /* Signing in again returns to the page. */
      await page.getByTestId('login-email').fill('idle@example.com');
      await page.getByTestId('login-password').fill(pw);
      await page.getByTestId('login-submit').click();
      await page.waitForURL((u) => new URL(u).pathname === '/api-auth-token');
      b.assertClean(w);
    });
  } finally {
    await idle.stop();
    fs.rmSync(dir2, { recursive: true, force: true });
  }
});

test('9. sign out: back at /login, the session is gone, and /api-auth-token redirects', T, async () => {
  await withPage(srv.base, async ({ context, page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    const cookie = (await context.cookies()).find((c) => c.name === 'kg_session');
    assert.ok(cookie, 'a kg_session cookie');
    assert.equal(cookie.httpOnly, true, 'the session cookie is HttpOnly');
    assert.equal(cookie.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
    assert.equal(await page.evaluate(() => document.cookie.includes('kg_session')), false, 'JS cannot read it');

    await page.getByTestId('sign-out').click();
    await page.waitForURL((u) => new URL(u).pathname === '/login');
    assert.match(await page.getByTestId('login-notice').textContent(), /signed out/i);

    const res = await page.goto('/api-auth-token');
    assert.equal(new URL(page.url()).pathname, '/login', '/api-auth-token sends a signed-out person to /login');
    const first = res.request().redirectedFrom();
    assert.ok(first, 'a redirect happened');
    assert.equal((await first.response()).status(), 302);

    /* The old cookie is dead on the server too, not only forgotten by the browser. */
    const r = await fetch(`${srv.base}/pane/session`, { headers: { Cookie: `kg_session=${cookie.value}` } });
    assert.equal(r.status, 401, 'the signed-out session no longer works');
    b.assertClean(w, { strict: true });
  });
});

test('10. Roles and Users pages: create a role, grant and revoke a privilege, grant roles, create a user', T, async () => {
  let bob;
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    await page.getByTestId('nav-roles').click();
    await page.waitForURL((u) => new URL(u).pathname === '/roles');
    await page.locator('[data-testid="role-row"][data-role-name="token_admin"]').waitFor();
    assert.match(await page.locator('[data-testid="role-row"][data-role-name="token_admin"]').textContent(), /manages API tokens/);

    await page.getByTestId('new-role').click();
    await page.getByTestId('role-name').fill('Bad Name');
    await page.getByTestId('create-role').click();
    await page.getByTestId('create-role-error').filter({ hasText: 'roleName' }).waitFor();

    await page.getByTestId('role-name').fill('ci_readers');
    await page.getByTestId('role-description').fill('read-only CI jobs');
    await page.getByTestId('create-role').click();
    const row = page.locator('[data-testid="role-row"][data-role-name="ci_readers"]');
    await row.waitFor();

    await row.getByTestId('role-manage').click();
    const dlg = page.getByTestId('role-dialog');
    await dlg.waitFor();
    await page.getByTestId('privilege-kind').selectOption('Allow');
    await page.getByTestId('privilege-name').fill('CreateUser');
    await page.getByTestId('grant-privilege').click();
    const prow = page.locator('[data-testid="privilege-row"][data-privilege="CreateUser"][data-kind="Allow"]');
    await prow.waitFor();
    await page.getByTestId('privilege-name').fill('orders.read');
    await page.getByTestId('privilege-grant-option').check();
    await page.getByTestId('grant-privilege').click();
    const orow = page.locator('[data-testid="privilege-row"][data-privilege="orders.read"][data-grant-option="true"]');
    await orow.waitFor();
    await orow.getByTestId('revoke-privilege').click();
    await orow.waitFor({ state: 'detached' });
    await page.getByTestId('privilege-kind').selectOption('Deny');
    assert.equal(await page.getByTestId('privilege-grant-option').isDisabled(), true, 'a Deny carries no grant option');
    await page.getByTestId('privilege-name').fill('ViewAuditLog');
    await page.getByTestId('grant-privilege').click();
    await page.locator('[data-testid="privilege-row"][data-privilege="ViewAuditLog"][data-kind="Deny"]').waitFor();
    await page.getByTestId('privilege-name').fill('NoSuchPrivilege');
    await page.getByTestId('grant-privilege').click();
    await dlg.getByTestId('dialog-error').filter({ hasText: 'privilege' }).waitFor();

    await page.getByTestId('grant-role-select').selectOption({ label: 'viewer' });
    await page.getByTestId('grant-role').click();
    await page.locator('[data-testid="granted-role"][data-role-name="viewer"]').waitFor();
    await b.shot(page, 'role-dialog.png');
    await prow.getByTestId('revoke-privilege').click();
    await prow.waitFor({ state: 'detached' });
    await page.getByTestId('dialog-done').click();
    await dlg.waitFor({ state: 'detached' });
    assert.match(await row.getByTestId('role-granted').textContent(), /viewer/);

    /* Server's view agrees. */
    const privs = await b.pageFetch(page, 'GET', `${V1}/role/${await row.getAttribute('data-role-id')}/privilege`);
    const acct = (await b.pageFetch(page, 'GET', `${V1}/account`)).json.accountId;
    assert.deepEqual(privs.json.result,
      [{ grantKind: 'Deny', entityKind: 'Account', entityId: acct, grantOption: false, privilege: 'ViewAuditLog' }]);
    await b.shot(page, 'roles.png');

    /* Users: create bob with ci_readers; the password is shown once. */
    await page.getByTestId('nav-users').click();
    await page.waitForURL((u) => new URL(u).pathname === '/users');
    await page.locator(`[data-testid="user-row"][data-email="${users.alice.email}"]`).waitFor();
    await page.getByTestId('new-user').click();
    await page.getByTestId('user-email-input').fill('bob@example.com');
    await page.getByTestId('user-role-select').selectOption({ label: 'ci_readers' });
    await page.getByTestId('create-user').click();
    const pw = page.getByTestId('user-password');
    await pw.waitFor();
    bob = { email: 'bob@example.com', password: (await pw.textContent()).trim() };
    assert.ok(bob.password.length >= 12, `a real one-time password: ${bob.password}`);
    const urow = page.locator('[data-testid="user-row"][data-email="bob@example.com"]');
    await urow.waitFor();
    assert.match(await urow.textContent(), /ci_readers/);
    await b.shot(page, 'users.png');
    await page.getByTestId('password-done').click();
    assert.equal(await page.getByTestId('user-password').count(), 0, 'the password is gone after Done');

    await urow.getByTestId('user-manage').click();
    await page.getByTestId('user-grant-select').selectOption({ label: 'token_admin' });
    await page.getByTestId('user-grant-role').click();
    await page.locator('[data-testid="user-granted-role"][data-role-name="token_admin"]').waitFor();
    await page.getByTestId('dialog-done').click();
    assert.match(await urow.textContent(), /token_admin/);
    await page.reload();
    await urow.waitFor();
    assert.ok(!(await page.content()).includes(bob.password), 'no password after a reload');
    /* The two 400s are the bad role name and the unknown privilege, provoked above. */
    b.assertClean(w, { strict: true, allow: /status of 400 \(Bad Request\)/ });
  });

  /* Bob signs in with the one-time password and now holds token_admin (ManageSecurity). */
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, bob.email, bob.password);
    await page.getByTestId('generate-token').waitFor();
    assert.ok(await page.getByTestId('nav-api-auth-token').isVisible());
    b.assertClean(w, { strict: true });
  });
});

test('11. every page loads with no JavaScript error, no CSP violation and no console error', T, async () => {
  await withPage(srv.base, async ({ page, w }) => {
    for (const p of ['/login']) {
      const res = await page.goto(p);
      assert.match(res.headers()['content-security-policy'] || '', /default-src 'self'/);
    }
    await b.signIn(page, users.admin.email, users.admin.password);
    for (const p of ['/api-auth-token', '/overview', '/roles', '/users', '/audit-log']) {
      const res = await page.goto(p);
      assert.equal(res.status(), 200, p);
      assert.match(res.headers()['content-security-policy'] || '', /script-src 'self'/, `CSP on ${p}`);
      await page.getByTestId('page-title').waitFor();
      await page.waitForLoadState('networkidle');
    }
    for (const a of ['app.js', 'app.css', 'login.js']) {
      const r = await page.request.get(`/assets/${a}`);
      assert.equal(r.status(), 200, `/assets/${a}`);
    }
    await page.goto('/api-auth-token');
    await page.getByTestId('generate-token').click();
    await page.getByTestId('generate-dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('generate-dialog').waitFor({ state: 'detached' });
    b.assertClean(w, { strict: true });
  });
});

test('12. thousands of rows: newest first, 100 a page, Load more', { timeout: 180000 }, async () => {
  await withPage(srv.base, async ({ page, w }) => {
    await b.signIn(page, users.admin.email, users.admin.password);
    const s = (await b.pageSession(page)).json;
    const total0 = (await b.pageFetch(page, 'GET', `${V1}/apiToken?pageSize=100`)).json.result.length;
    const made2 = await page.evaluate(async ({ csrf, roleId, n }) => {
      const ids = [];
      for (let i = 0; i < n; i++) {
        const r = await fetch('/public/api/v1/apiToken', { method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
          body: JSON.stringify({ description: `bulk ${i}`, roleId }) });
        if (r.status !== 201) return { error: `${r.status} ${await r.text()}` };
        ids.push((await r.json()).clientId);
      }
      return { ids };
    }, { csrf: s.csrfToken, roleId: roles.public, n: 230 });
    assert.ok(made2.ids, made2.error);
    const total = total0 + 230;
    await page.reload();
    await page.getByTestId('token-row').first().waitFor();
    assert.equal(await page.getByTestId('token-row').count(), 100, 'first page: 100 rows');
    assert.equal(await page.getByTestId('token-row').first().getAttribute('data-client-id'), made2.ids[229], 'newest first');
    let clicks = 0;
    while (await page.getByTestId('load-more').isVisible()) {
      const n = await page.getByTestId('token-row').count();
      await page.getByTestId('load-more').click();
      await h.waitFor(async () => (await page.getByTestId('token-row').count()) > n, 5000);
      clicks += 1;
      assert.ok(clicks < 20);
    }
    assert.equal(await page.getByTestId('token-row').count(), total, 'every token, once');
    const ids = await page.getByTestId('token-row').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-client-id')));
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    assert.equal(ids.indexOf(made2.ids[0]) - ids.indexOf(made2.ids[229]), 229, 'in order, newest first');
    b.assertClean(w, { strict: true });
  });
});
