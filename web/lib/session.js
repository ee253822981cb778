/*
 * session.js — who is signed in (GET /pane/session: the email, the active roles, the
 * privileges and the CSRF token) and where the page is.  One copy for every module: `session`
 * is a live binding, replaced by setSession(), which tells the listeners (the shell).
 */

/* The page's path without a trailing slash: which page to render. */
export var path = window.location.pathname.replace(/\/+$/, '') || '/';

export var session = null;

var listeners = [];

/* fn() runs after every setSession(). */
export function onSessionChange(fn) {
  listeners.push(fn);
}

export function setSession(s) {
  session = s;
  listeners.forEach(function (fn) { fn(); });
}

export function has(privilege) {
  /* The server's verdict, implications and denies included (view_allows): not re-derived here. */
  var p = (session && session.privileges) || {};
  return !!p[privilege];
}

export function roleNames() {
  return ((session && session.activeRoles) || []).map(function (r) { return r.roleName; });
}

/* The sign-in page, to come back here after it; reason is 'expired' or empty. */
export function loginUrl(reason) {
  return '/login?next=' + encodeURIComponent(path + window.location.search) + (reason ? '&reason=' + reason : '');
}
