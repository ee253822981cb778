/*
 * app.js — the web pane's entry, for /overview, /api-auth-token (and a token's own page,
 * /api-auth-token/{clientId}), /roles, /users and /audit-log.
 *
 * It reads the session (GET /pane/session: who is signed in, their active roles, their
 * privileges and the CSRF token), draws the shell (navigation, who is signed in, Sign out),
 * then renders the page that location.pathname names: one module a page in pages/, shared
 * helpers in lib/.  Data comes from the REST API under /public/api/v1 (lib/api.js).
 */
import { ApiError, errorAlert, fetchSession } from './lib/api.js';
import { append, clear, el, toast } from './lib/dom.js';
import { pageHeader } from './lib/page.js';
import { has, onSessionChange, path, roleNames, session, setSession } from './lib/session.js';
import * as audit from './pages/audit.js';
import * as overview from './pages/overview.js';
import * as roles from './pages/roles.js';
import * as token from './pages/token.js';
import * as tokens from './pages/tokens.js';
import * as users from './pages/users.js';

var PAGES = {
  '/overview': overview,
  '/api-auth-token': tokens,
  '/roles': roles,
  '/users': users,
  '/audit-log': audit,
};

var viewEl = document.getElementById('view');

function drawShell() {
  document.getElementById('user-email').textContent = session.email;
  document.getElementById('avatar').textContent = (session.email || '?').charAt(0);
  var names = roleNames().filter(function (n) { return n !== 'public'; });
  var rolesEl = document.getElementById('user-roles');
  /* accountadmin holds every role: naming them all would say nothing. */
  rolesEl.textContent = names.indexOf('accountadmin') >= 0 ? 'accountadmin' : names.length ? names.join(', ') : 'public';
  rolesEl.title = 'Active roles: ' + roleNames().join(', ');
  document.getElementById('nav-item-api-auth-token').hidden = !has('ManageSecurity');
  document.getElementById('nav-item-audit-log').hidden = !has('ViewAuditLog');
  document.getElementById('nav-item-overview').hidden = !has('ManageSecurity');
  Array.prototype.forEach.call(document.querySelectorAll('.nav-link'), function (a) {
    var p = a.getAttribute('data-path');
    var on = p === path || path.indexOf(p + '/') === 0; /* a token's page is under its list */
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

function signOut(ev) {
  var btn = ev.currentTarget;
  btn.disabled = true;
  btn.textContent = 'Signing out\u2026';
  fetch('/logout', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRF-Token': session ? session.csrfToken : '', 'Content-Type': 'application/json' },
    body: '{}',
  }).then(function (res) {
    if (res.ok || res.status === 401) {
      window.location.assign('/login?reason=signedout');
      return;
    }
    btn.disabled = false;
    btn.textContent = 'Sign out';
    toast('Could not sign out (' + res.status + '). Reload the page and try again.');
  }, function () {
    btn.disabled = false;
    btn.textContent = 'Sign out';
    toast('Could not reach the server to sign out.');
  });
}

function route() {
  clear(viewEl);
  var page = Object.prototype.hasOwnProperty.call(PAGES, path) ? PAGES[path] : null;
  var one = /^\/api-auth-token\/([^/]+)$/.exec(path);
  if (one) {
    var id = one[1];
    try { id = decodeURIComponent(id); } catch (e) { /* a malformed escape: the API will say not found */ }
    token.render(viewEl, id);
    return;
  }
  if (page) {
    page.render(viewEl);
    return;
  }
  document.title = 'Not found \u00b7 keygate';
  append(viewEl, [pageHeader('Page not found', 'There is nothing at ' + path + '.'),
    el('a', { href: '/api-auth-token', text: 'Go to API auth token' })]);
}

document.getElementById('sign-out').addEventListener('click', signOut);
onSessionChange(drawShell);

fetchSession().then(function (s) {
  if (!s) return;
  setSession(s);
  route();
}).catch(function (err) {
  clear(viewEl);
  viewEl.appendChild(errorAlert(err instanceof ApiError ? err : new ApiError(0, null), 'use this page', 'ManageSecurity'));
});
