'use strict';
// Helpers for the web pane's browser tests: Debian's chromium driven by playwright-core,
// the real keygate binary (tests/e2e/helpers.js) on 127.0.0.1 with a throw-away database.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { chromium } = require('playwright-core');
const h = require('../e2e/helpers.js');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(__dirname, '../../build/screenshots');

/* Headless Debian chromium with the flags this machine needs (no network beyond loopback). */
async function launchBrowser() {
  assert.ok(fs.existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/* A fresh database directory with users and roles made by the CLI before the server starts
 * (so the server reads them at start-up, and no sign-in races the CLI). */
function freshDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-browser-'));
}

function dbOf(dir) {
  return path.join(dir, 'keygate.db');
}

/* `keygate user create EMAIL --role ROLE`; returns the one-time password it prints. */
function createUser(db, email, role) {
  const r = h.cli(db, ['user', 'create', email, '--role', role]);
  assert.equal(r.status, 0, `user create ${email}: ${r.stderr}`);
  const m = /Password:\s+(\S+)/.exec(r.stdout);
  assert.ok(m, `user create printed no password: ${r.stdout}`);
  return m[1];
}

function cliOk(db, args) {
  const r = h.cli(db, args);
  assert.equal(r.status, 0, `keygate ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/* roleId of a role name, from `role list --json`. */
function roleId(db, name) {
  const list = h.cliJson(db, ['role', 'list', '--json']);
  const arr = Array.isArray(list) ? list : list.result;
  const r = arr.find((x) => x.roleName === name);
  assert.ok(r, `role ${name} not in role list`);
  return r.roleId;
}

/*
 * Watches a page for JavaScript errors and CSP violations. `fatal` gets uncaught errors and
 * every "Refused to …"/Content Security Policy console message; `console` gets every console
 * error (a 401/403 fetch the test provoked on purpose shows up there as "Failed to load
 * resource", which is expected).
 */
function watch(page) {
  const w = { fatal: [], console: [] };
  page.on('pageerror', (e) => w.fatal.push(`pageerror: ${e.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to (execute|load|apply|connect|frame|run|evaluate)/i.test(text)) {
      w.fatal.push(`CSP: ${text}`);
    }
    if (msg.type() === 'error') w.console.push(text);
  });
  return w;
}

/* strict: no console error at all, but for those `allow` (a RegExp) expects. */
function assertClean(w, { strict = false, allow = null } = {}) {
  assert.deepEqual(w.fatal, [], `JavaScript errors or CSP violations:\n${w.fatal.join('\n')}`);
  const rest = allow ? w.console.filter((t) => !allow.test(t)) : w.console;
  if (strict) assert.deepEqual(rest, [], `console errors:\n${rest.join('\n')}`);
}

/* opts: more browser-context options (e.g. timezoneId). */
async function newPage(browser, base, opts = {}) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 }, ...opts });
  context.setDefaultTimeout(10000);
  const page = await context.newPage();
  const w = watch(page);
  return { context, page, w };
}

/* Signs in through the login form and waits for the page it lands on. */
async function signIn(page, email, password, landing = '/api-auth-token') {
  await page.goto('/login');
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL((u) => new URL(u).pathname === landing);
  await page.getByTestId('user-email').filter({ hasText: email }).waitFor();
}

/* The session the page sees (GET /pane/session, with the page's cookie). */
function pageSession(page) {
  return page.evaluate(async () => {
    const r = await fetch('/pane/session', { credentials: 'same-origin' });
    return { status: r.status, json: r.status === 200 ? await r.json() : null };
  });
}

/* fetch() from inside the page: {status, json}. */
function pageFetch(page, method, url, { body, csrf, headers } = {}) {
  return page.evaluate(async ({ method, url, body, csrf, headers }) => {
    const hd = { ...(headers || {}) };
    if (body !== undefined) hd['Content-Type'] = 'application/json';
    if (csrf) hd['X-CSRF-Token'] = csrf;
    const r = await fetch(url, { method, headers: hd, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = null; }
    return { status: r.status, json, text };
  }, { method, url, body, csrf, headers });
}

/* The token exchange with curl, as a person would run it. Returns {status, json}. */
function curlExchange(base, clientId, secret) {
  const out = execFileSync('curl', ['-s', '--max-time', '10', '-u', `${clientId}:${secret}`,
    '-d', 'grant_type=client_credentials', '-w', '\n%{http_code}', `${base}/oauth/v2/token`],
  { encoding: 'utf8', timeout: 15000 });
  const i = out.lastIndexOf('\n');
  let json = null;
  try { json = JSON.parse(out.slice(0, i)); } catch { json = null; }
  return { status: Number(out.slice(i + 1)), json, text: out.slice(0, i) };
}

function shot(page, name, opts = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  return page.screenshot({ path: path.join(SHOTS, name), ...opts });
}

/*
 * Runs fn({context, page, w}) in a fresh context of browser at base (newPage's opts), signed in
 * as user ({email, password}; null: not signed in) and, when `landing` is given, on that page;
 * the context is closed afterwards, whatever fn did.
 */
async function withPage(browser, base, user, fn, opts = {}, landing = null) {
  const p = await newPage(browser, base, opts);
  try {
    if (user) await signIn(p.page, user.email, user.password);
    if (landing) await p.page.goto(landing);
    return await fn(p);
  } finally {
    await p.context.close();
  }
}

/* A REST call from the page, with its session and CSRF token; must answer `want` (if given). */
async function pageCall(page, method, url, body, want) {
  const s = (await pageSession(page)).json;
  const r = await pageFetch(page, method, url, { csrf: s.csrfToken, body });
  if (want) assert.equal(r.status, want, `${method} ${url}: ${r.status} ${r.text}`);
  return r;
}

module.exports = {
  h, launchBrowser, freshDir, dbOf, createUser, cliOk, roleId, watch, assertClean, newPage, signIn,
  pageSession, pageFetch, curlExchange, shot, SHOTS, withPage, pageCall,
};
