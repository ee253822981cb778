/*
 * api.js — the REST API under /public/api/v1 with the session cookie (every write carries
 * X-CSRF-Token and Content-Type: application/json), the session itself, and a server error
 * put in words a person understands.
 */
import { clear, el, sentence } from './dom.js';
import { loginUrl, path, session, setSession } from './session.js';

export var V1 = '/public/api/v1';
export var PAGE_SIZE = 100;

export function ApiError(status, body, retryAfter) {
  this.status = status;
  this.body = body || null;
  this.message = (body && body.message) || '';
  this.retryAfter = retryAfter || 0;
}

/* One page of a list: base?pageSize=N[&extra…][&pageToken=T]. */
export function pageUrl(base, size, token, extra) {
  var q = ['pageSize=' + size].concat(extra || []);
  if (token) q.push('pageToken=' + encodeURIComponent(token));
  return base + '?' + q.join('&');
}

/* The answer's JSON (null when empty); an ApiError when the request fails or is refused. */
export function api(method, url, body) {
  var headers = { Accept: 'application/json' };
  var opts = { method: method, credentials: 'same-origin', cache: 'no-store', headers: headers };
  if (method !== 'GET' && method !== 'HEAD') {
    headers['Content-Type'] = 'application/json';
    headers['X-CSRF-Token'] = session ? session.csrfToken : '';
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  return fetch(url, opts).then(function (res) {
    return res.text().then(function (text) {
      var json = null;
      try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
      if (!res.ok) throw new ApiError(res.status, json, parseInt(res.headers.get('Retry-After') || '0', 10));
      return json;
    });
  }, function () {
    throw new ApiError(0, null);
  });
}

/* Every page of a list (bounded: 500 pages of PAGE_SIZE, the API's largest), e.g. all roles
 * for a drop-down. */
export function listAll(url) {
  var out = [];
  function page(token, n) {
    return api('GET', pageUrl(url, PAGE_SIZE, token)).then(function (data) {
      out = out.concat((data && data.result) || []);
      if (data && data.nextPageToken && n < 500) return page(data.nextPageToken, n + 1);
      return out;
    });
  }
  return page('', 0);
}

/* ---- the session --------------------------------------------------------------------- */

/* The session's description; null (and on to sign-in) when there is none. */
export function fetchSession() {
  return fetch('/pane/session', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
    .then(function (res) {
      if (res.status === 401) {
        window.location.replace(loginUrl('expired'));
        return null;
      }
      if (!res.ok) throw new ApiError(res.status, null);
      return res.json();
    });
}

/* Reads the session again (e.g. after a new role joined the active set). */
export function refreshSession() {
  return fetchSession().then(function (s) {
    if (s) setSession(s);
  }).catch(function () { /* keep the old one */ });
}

/* ---- errors in words ----------------------------------------------------------------- */

/*
 * A server error in words a person understands. `what` completes "You don't have
 * permission to …"; `privilege` is the one the route needs.
 */
export function errorAlert(err, what, privilege) {
  var box = el('div', { class: 'alert alert-error', role: 'alert', testid: 'error' });
  var body = el('div', { class: 'alert-body' });
  box.appendChild(body);
  var status = err && err.status;
  var msg = err && err.message ? String(err.message) : '';
  if (!(err instanceof ApiError)) {
    body.appendChild(document.createTextNode('Something went wrong in this page: ' + (err && err.message ? err.message : String(err))));
    return box;
  }
  if (status === 401) {
    box.setAttribute('data-testid', 'session-expired');
    body.appendChild(document.createTextNode('Your session has expired. '));
    body.appendChild(el('a', { href: loginUrl('expired'), text: 'Sign in again.' }));
  } else if (status === 403) {
    var m = /lacks the (\S+) privilege/.exec(msg);
    if (/csrf/i.test(msg)) {
      body.appendChild(document.createTextNode('This request could not be verified as coming from this page. '));
      body.appendChild(el('a', { href: path, text: 'Reload the page' }));
      body.appendChild(document.createTextNode(' and try again.'));
    } else if (m || !msg) {
      body.appendChild(document.createTextNode('You don\u2019t have permission to ' + what +
        ' (needs the ' + (m ? m[1] : privilege) + ' privilege).'));
    } else {
      body.appendChild(document.createTextNode('You don\u2019t have permission to ' + what + '. ' + sentence(msg)));
    }
  } else if (status === 0) {
    body.appendChild(document.createTextNode('Could not reach the server. Check your connection and try again.'));
  } else if (status === 429) {
    body.appendChild(document.createTextNode('Too many requests. Try again' +
      (err.retryAfter ? ' in ' + err.retryAfter + ' seconds.' : ' in a moment.')));
  } else if (status >= 500) {
    body.appendChild(document.createTextNode('The server had a problem (' + status + '). Try again in a moment.'));
    if (msg) body.appendChild(el('span', { class: 'alert-detail', text: sentence(msg) }));
  } else if (status === 409 && err.body && err.body.status === 'ABORTED') {
    body.appendChild(document.createTextNode('It was changed elsewhere in the meantime, so nothing was ' +
      'overwritten. It now shows as it is: try again.'));
  } else if (status === 404) {
    body.appendChild(document.createTextNode(sentence(msg) || 'Not found. It may have been deleted; reload the page.'));
  } else {
    body.appendChild(document.createTextNode(sentence(msg) || 'The request failed (' + status + ').'));
  }
  return box;
}

export function showError(container, err, what, privilege) {
  clear(container);
  container.appendChild(errorAlert(err, what, privilege));
  container.hidden = false;
  if (container.scrollIntoView) container.scrollIntoView({ block: 'nearest' });
}

export function hideError(container) {
  clear(container);
  container.hidden = true;
}

/* A message of the page's own (a field left empty) in the same place as an error. */
export function showMessage(container, text) {
  clear(container);
  container.appendChild(el('div', { class: 'alert alert-error', role: 'alert', text: text }));
  container.hidden = false;
}
