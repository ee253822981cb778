'use strict';
// The granted-roles editor (web/lib/granted-roles.js), one component for a role's dialog and
// a user's: grant a role, remove it with ×, and the list, the drop-down and the table row
// follow.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const b = require('./helpers.js');

const { h } = b;
let browser, srv, dir, admin;

before(async () => {
  dir = b.freshDir();
  const db = b.dbOf(dir);
  admin = { email: 'admin3@example.com', password: b.createUser(db, 'admin3@example.com', 'accountadmin') };
  b.cliOk(db, ['role', 'create', 'viewer']);
  b.cliOk(db, ['role', 'create', 'ops']);
  b.createUser(db, 'bob@example.com', 'viewer');
  srv = await h.startServer({ dir });
  browser = await b.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/* In the open dialog: grant `name` with the select and button, then remove it with ×. */
async function grantAndRemove(page, ids, holderName, name) {
  const chip = page.locator(`[data-testid="${ids.chip}"][data-role-name="${name}"]`);
  await page.getByTestId(ids.select).selectOption({ label: name });
  await page.getByTestId(ids.button).click();
  await chip.waitFor();
  assert.equal(await page.locator(`[data-testid="${ids.select}"] option`, { hasText: name }).count(), 0,
    'a granted role is no longer offered');
  await page.getByRole('button', { name: `Remove ${name} from ${holderName}` }).click();
  await chip.waitFor({ state: 'detached' });
  assert.equal(await page.locator(`[data-testid="${ids.select}"] option`, { hasText: name }).count(), 1,
    'a removed role is offered again');
}

test('the granted-roles editor, for a role and for a user', { timeout: 90000 }, async () => {
  const { page, w, context } = await b.newPage(browser, srv.base);
  try {
    page.on('dialog', (d) => d.accept());
    await b.signIn(page, admin.email, admin.password);

    await page.goto('/roles');
    const ops = page.locator('[data-testid="role-row"][data-role-name="ops"]');
    await ops.getByTestId('role-manage').click();
    assert.equal(await page.locator('[data-testid="grant-role-select"] option', { hasText: /^ops$/ }).count(), 0,
      'a role is not offered to itself');
    await grantAndRemove(page, { chip: 'granted-role', select: 'grant-role-select', button: 'grant-role' }, 'ops', 'viewer');
    assert.match(await page.getByTestId('granted-roles').textContent(), /No roles granted to this role/);
    await page.getByTestId('dialog-done').click();
    assert.match(await ops.getByTestId('role-granted').textContent(), /\u2014/);

    await page.goto('/users');
    const bob = page.locator('[data-testid="user-row"][data-email="bob@example.com"]');
    await bob.getByTestId('user-manage').click();
    await grantAndRemove(page, { chip: 'user-granted-role', select: 'user-grant-select', button: 'user-grant-role' },
      'bob@example.com', 'ops');
    await page.getByTestId('dialog-done').click();
    assert.deepEqual(await bob.getByTestId('user-role').allTextContents(), ['viewer']);
    b.assertClean(w, { strict: true });
  } finally {
    await context.close();
  }
});

test('a role changed elsewhere while its dialog is open: the grant is refused (409), nothing is overwritten, the dialog shows it as it is', { timeout: 90000 }, async () => {
  const { page, w, context } = await b.newPage(browser, srv.base);
  try {
    await b.signIn(page, admin.email, admin.password);
    await page.goto('/roles');
    const ops = page.locator('[data-testid="role-row"][data-role-name="ops"]');
    await ops.getByTestId('role-manage').click();
    await page.getByTestId('grant-role-select').waitFor();
    b.cliOk(b.dbOf(dir), ['role', 'grant-role', 'ops', 'viewer']); // meanwhile, elsewhere
    const stale = page.waitForResponse((r) => r.request().method() === 'PATCH');
    await page.getByTestId('grant-role-select').selectOption({ label: 'accountadmin' });
    await page.getByTestId('grant-role').click();
    assert.equal((await stale).status(), 409, 'the PATCH carried the syncToken the dialog was drawn from');
    await page.getByTestId('dialog-error').filter({ hasText: /changed elsewhere/ }).waitFor();
    await page.locator('[data-testid="granted-role"][data-role-name="viewer"]').waitFor(); // read again
    assert.equal(await page.locator('[data-testid="granted-role"][data-role-name="accountadmin"]').count(), 0);
    await page.getByTestId('grant-role-select').selectOption({ label: 'accountadmin' }); // now it goes through
    await page.getByTestId('grant-role').click();
    await page.locator('[data-testid="granted-role"][data-role-name="accountadmin"]').waitFor();
    await page.locator('[data-testid="granted-role"][data-role-name="viewer"]').waitFor();
    b.assertClean(w, { allow: /409/ });
  } finally {
    await context.close();
  }
});
