'use strict';
/*
 * keygate — the web pane's one script, for /api-auth-token, /roles, /users and /audit-log.
 *
 * It reads the session (GET /pane/session: who is signed in, their active roles, their
 * privileges and the CSRF token), then renders the page that location.pathname names.
 * Data comes from the REST API under /public/api/v1 with the session cookie; every write
 * carries X-CSRF-Token and Content-Type: application/json.
 *
 * The DOM is built with createElement/textContent only: descriptions, names and emails are
 * user input and never go through innerHTML.
 */
(function () {
  var V1 = '/public/api/v1';
  var PAGE_SIZE = 100;
  var KNOWN_PRIVILEGES = ['ManageSecurity', 'CreateRole', 'CreateUser', 'ViewAuditLog', 'Introspect'];

  var session = null;
  var viewEl = document.getElementById('view');
  var path = window.location.pathname.replace(/\/+$/, '') || '/';

  /* ---- DOM helpers ------------------------------------------------------------------- */

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(node, c); });
      return;
    }
    node.appendChild(typeof child === 'string' || typeof child === 'number'
      ? document.createTextNode(String(child)) : child);
  }

  /* el('button', {class: 'btn', text: 'Go', testid: 'go', on: {click: fn}}, ...children) */
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === undefined || v === null) return;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k === 'testid') node.setAttribute('data-testid', v);
        else if (k === 'on') Object.keys(v).forEach(function (ev) { node.addEventListener(ev, v[ev]); });
        else if (k === 'value') node.value = v;
        else if (typeof v === 'boolean') node[k] = v;
        else node.setAttribute(k, v);
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  var SVG_NS = 'http://www.w3.org/2000/svg';
  var ICONS = {
    key: [['circle', { cx: 7.5, cy: 15.5, r: 4.5 }], ['path', { d: 'M10.7 12.3 20 3M16 7l3 3M14 9l2 2' }]],
    lock: [['rect', { x: 4, y: 10, width: 16, height: 11, rx: 2 }], ['path', { d: 'M8 10V7a4 4 0 0 1 8 0v3' }]],
    shield: [['path', { d: 'M12 3 4 6v6c0 5 3.4 8.3 8 9 4.6-.7 8-4 8-9V6z' }]],
    users: [['circle', { cx: 9, cy: 8, r: 4 }], ['path', { d: 'M2 21c0-3.9 3.1-7 7-7s7 3.1 7 7' }]],
    plus: [['path', { d: 'M12 5v14M5 12h14' }]],
    search: [['circle', { cx: 11, cy: 11, r: 7 }], ['path', { d: 'm20 20-3.5-3.5' }]],
    log: [['path', { d: 'M14 3H6a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z' }], ['path', { d: 'M14 3v6h6M8 13h8M8 17h5' }]],
  };

  function icon(name) {
    var svg = document.createElementNS(SVG_NS, 'svg');
    var attrs = { viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': 2,
      'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true' };
    Object.keys(attrs).forEach(function (k) { svg.setAttribute(k, attrs[k]); });
    (ICONS[name] || []).forEach(function (part) {
      var p = document.createElementNS(SVG_NS, part[0]);
      Object.keys(part[1]).forEach(function (k) { p.setAttribute(k, part[1][k]); });
      svg.appendChild(p);
    });
    return svg;
  }

  function fmtTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  /* Local time in two short lines ("Dec 1, 2026" over "10:46 AM", or "10:46:05 AM" with
   * seconds); the full local time and the UTC value are in the tooltip. */
  function timeCell(iso, emptyText, seconds) {
    var td = el('td', { class: 'nowrap time-cell' });
    var d = iso ? new Date(iso) : null;
    if (!iso) {
      td.appendChild(el('span', { class: 'faint', text: emptyText }));
    } else if (isNaN(d.getTime())) {
      td.appendChild(el('time', { datetime: iso, text: String(iso) }));
    } else {
      td.appendChild(el('time', { datetime: iso, title: fmtTime(iso) + ' (' + iso + ')' },
        el('span', { class: 'date', text: d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) }),
        el('span', { class: 'clock', text: d.toLocaleString(undefined,
          seconds ? { hour: 'numeric', minute: '2-digit', second: '2-digit' } : { hour: 'numeric', minute: '2-digit' }) })));
    }
    return td;
  }

  function sentence(text) {
    var s = String(text || '').trim();
    if (!s) return '';
    /* "no role has that roleId" → "No role has that roleId."; a field name stays as it is. */
    if (/^[a-z]+(\s|$)/.test(s)) s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + '.';
  }

  var toastTimer = null;
  function toast(text) {
    var t = document.getElementById('toast');
    t.textContent = text;
    t.classList.add('show');
    if (toastTimer) clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.classList.remove('show'); }, 3500);
  }

  function loginUrl(reason) {
    return '/login?next=' + encodeURIComponent(path + window.location.search) + (reason ? '&reason=' + reason : '');
  }

  function has(privilege) {
    /* The server's verdict, implications and denies included (view_allows): not re-derived here. */
    var p = (session && session.privileges) || {};
    return !!p[privilege];
  }

  function roleNames() {
    return ((session && session.activeRoles) || []).map(function (r) { return r.roleName; });
  }

  /* ---- the REST API -------------------------------------------------------------------- */

  function ApiError(status, body, retryAfter) {
    this.status = status;
    this.body = body || null;
    this.message = (body && body.message) || '';
    this.retryAfter = retryAfter || 0;
  }

  function api(method, url, body) {
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

  /* Every page of a list (bounded), e.g. all roles for a drop-down. */
  function listAll(url) {
    var out = [];
    function page(token, n) {
      var q = url + '?pageSize=1000' + (token ? '&pageToken=' + encodeURIComponent(token) : '');
      return api('GET', q).then(function (data) {
        out = out.concat((data && data.result) || []);
        if (data && data.nextPageToken && n < 50) return page(data.nextPageToken, n + 1);
        return out;
      });
    }
    return page('', 0);
  }

  /*
   * A server error in words a person understands. `what` completes "You don't have
   * permission to …"; `privilege` is the one the route needs.
   */
  function errorAlert(err, what, privilege) {
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
    } else if (status === 404) {
      body.appendChild(document.createTextNode(sentence(msg) || 'Not found. It may have been deleted; reload the page.'));
    } else {
      body.appendChild(document.createTextNode(sentence(msg) || 'The request failed (' + status + ').'));
    }
    return box;
  }

  function showError(container, err, what, privilege) {
    clear(container);
    container.appendChild(errorAlert(err, what, privilege));
    container.hidden = false;
    if (container.scrollIntoView) container.scrollIntoView({ block: 'nearest' });
  }

  function hideError(container) {
    clear(container);
    container.hidden = true;
  }

  /* ---- clipboard ----------------------------------------------------------------------- */

  function copyText(text, button, source) {
    var label = button.textContent;
    function done() {
      button.textContent = 'Copied';
      button.classList.add('copied');
      setTimeout(function () {
        button.textContent = label;
        button.classList.remove('copied');
      }, 1600);
    }
    function fallback() {
      /* Inside a modal dialog only the dialog can take focus: put the helper there. */
      var host = button.closest('dialog') || document.body;
      var ta = el('textarea', { class: 'visually-hidden', 'aria-hidden': 'true', readonly: 'readonly' });
      ta.value = text;
      host.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      host.removeChild(ta);
      if (ok) {
        done();
        button.focus();
        return;
      }
      /* Last resort: select the text so Ctrl+C copies it. */
      if (source) {
        var range = document.createRange();
        range.selectNodeContents(source);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
      button.textContent = 'Press Ctrl+C';
      setTimeout(function () { button.textContent = label; }, 2500);
    }
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
  }

  function copyRow(labelText, value, testid, copyTestid, extraClass) {
    var code = el('code', { testid: testid, id: testid + '-value' }, value);
    var btn = el('button', { type: 'button', class: 'btn btn-sm', testid: copyTestid,
      'aria-label': 'Copy ' + labelText, text: 'Copy' });
    btn.addEventListener('click', function () { copyText(code.textContent, btn, code); });
    return el('div', { class: 'secret-field' },
      el('span', { class: 'label', id: testid + '-label', text: labelText }),
      el('div', { class: 'copy-row' + (extraClass ? ' ' + extraClass : ''), role: 'group', 'aria-labelledby': testid + '-label' }, code, btn));
  }

  /* ---- modal dialogs ------------------------------------------------------------------- */

  /*
   * A <dialog> shown modally. opts.onRequestClose() returns false to keep it open (asked on
   * Escape, the × button and a click on the backdrop); opts.onClosed() runs once when it goes.
   */
  function modal(title, opts) {
    opts = opts || {};
    var titleId = 'dlg-title-' + Math.random().toString(36).slice(2);
    var heading = el('h2', { id: titleId, text: title });
    var closeBtn = el('button', { type: 'button', class: 'btn btn-ghost btn-icon', 'aria-label': 'Close', testid: 'dialog-close', text: '\u00d7' });
    var body = el('div', { class: 'modal-body' });
    var footer = el('div', { class: 'modal-footer' });
    var inner = el('div', { class: 'modal-inner' }, el('div', { class: 'modal-header' }, heading, closeBtn), body, footer);
    var dlg = el('dialog', { class: 'modal' + (opts.wide ? ' modal-wide' : ''), 'aria-labelledby': titleId, testid: opts.testid || 'dialog' }, inner);
    var closing = false;
    var downOnBackdrop = false;

    function outside(ev) {
      var r = dlg.getBoundingClientRect();
      return ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom;
    }
    function requestClose() {
      if (opts.onRequestClose && opts.onRequestClose() === false) return;
      close();
    }
    function close() {
      closing = true;
      if (dlg.open) dlg.close();
    }
    closeBtn.addEventListener('click', requestClose);
    dlg.addEventListener('cancel', function (ev) {
      ev.preventDefault();
      requestClose();
    });
    dlg.addEventListener('mousedown', function (ev) { downOnBackdrop = ev.target === dlg && outside(ev); });
    dlg.addEventListener('click', function (ev) {
      if (ev.target === dlg && downOnBackdrop && outside(ev)) requestClose();
      downOnBackdrop = false;
    });
    dlg.addEventListener('close', function () {
      /* Closed by the browser without asking us (a repeated Escape): ask now, reopen if kept. */
      if (!closing && opts.onRequestClose && opts.onRequestClose() === false) {
        dlg.showModal();
        return;
      }
      if (dlg.parentNode) dlg.parentNode.removeChild(dlg);
      if (opts.onClosed) opts.onClosed();
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    return { dialog: dlg, body: body, footer: footer, heading: heading, close: close, requestClose: requestClose };
  }

  function stepper(current) {
    function step(n, label) {
      var cls = 'step' + (n === current ? ' current' : n < current ? ' done' : '');
      return el('span', { class: cls }, el('span', { class: 'step-num', text: n < current ? '\u2713' : String(n) }), label);
    }
    return el('div', { class: 'stepper', 'aria-label': 'Step ' + current + ' of 2' },
      step(1, 'Details'), el('span', { class: 'sep' }), step(2, 'Secret key'));
  }

  /* ---- page frame ---------------------------------------------------------------------- */

  function pageHeader(title, text, action) {
    return el('div', { class: 'page-header' },
      el('div', null, el('h1', { text: title, testid: 'page-title' }), text ? el('p', { text: text }) : null),
      action || null);
  }

  function permissionState(heading, privilege, doing) {
    var roles = roleNames();
    return el('div', { class: 'empty-state permission-state', testid: 'permission-message', role: 'status' },
      el('div', { class: 'empty-icon' }, icon('lock')),
      el('h2', { text: heading }),
      el('p', null,
        'You need the ', el('code', { text: privilege }), ' privilege to ' + doing + '. ',
        roles.length ? 'None of your active roles (' + roles.join(', ') + ') grants it. ' : '',
        'Ask an account administrator to grant ', el('code', { text: privilege }), ' to one of your roles.'));
  }

  function roleOptions(select, roles, placeholder) {
    clear(select);
    if (placeholder) select.appendChild(el('option', { value: '', text: placeholder, disabled: true, selected: true }));
    roles.forEach(function (r) {
      select.appendChild(el('option', { value: r.roleId, text: r.roleName }));
    });
  }

  /* ======================================================================================
   * API auth token
   * ==================================================================================== */

  function renderTokens() {
    document.title = 'API auth token \u00b7 keygate';
    var intro = 'Generate tokens to use with the keygate API. A program exchanges a token\u2019s ' +
      'Client ID and Secret key for a short-lived access token; the assigned role decides which ' +
      'endpoints it may call.';
    if (!has('ManageSecurity')) {
      append(viewEl, [pageHeader('API auth token', intro),
        permissionState('You can\u2019t manage API auth tokens', 'ManageSecurity', 'view, generate or revoke API auth tokens')]);
      return;
    }

    var rows = {};
    var count = 0;
    var nextToken = '';
    var alerts = el('div', { id: 'page-alerts', hidden: true });
    var generateBtn = el('button', { type: 'button', class: 'btn btn-primary', testid: 'generate-token' }, icon('plus'), 'Generate new token');
    var tbody = el('tbody', { testid: 'token-table-body' });
    var countText = el('span', { testid: 'token-count' });
    var loadMore = el('button', { type: 'button', class: 'btn btn-sm', testid: 'load-more', text: 'Load more', hidden: true });
    var table = el('div', { class: 'table-wrap', testid: 'token-table', hidden: true },
      el('table', { class: 'data' },
        el('thead', null, el('tr', null,
          el('th', { scope: 'col', text: 'Client ID' }),
          el('th', { scope: 'col', text: 'Description' }),
          el('th', { scope: 'col', text: 'Assigned role' }),
          el('th', { scope: 'col', text: 'Status' }),
          el('th', { scope: 'col', text: 'Created' }),
          el('th', { scope: 'col', text: 'Last access' }),
          el('th', { scope: 'col', class: 'actions' }, el('span', { class: 'visually-hidden', text: 'Revoke access' })))),
        tbody),
      el('div', { class: 'table-footer' }, countText, loadMore));
    var emptyGenerate = el('button', { type: 'button', class: 'btn btn-primary', testid: 'generate-token-empty' }, icon('plus'), 'Generate new token');
    var empty = el('div', { class: 'card empty-state', testid: 'token-empty', hidden: true },
      el('div', { class: 'empty-icon' }, icon('key')),
      el('h2', { text: 'No API auth tokens yet' }),
      el('p', { text: 'Generate a token to let a program call the API with a role you choose. ' +
        'You will see its secret key once, when you create it.' }),
      emptyGenerate);
    var loading = el('p', { class: 'loading', text: 'Loading tokens\u2026' });

    append(viewEl, [pageHeader('API auth token', intro, generateBtn), alerts, loading, empty, table]);

    function refreshChrome() {
      empty.hidden = count > 0;
      table.hidden = count === 0;
      countText.textContent = count === 1 ? '1 token' : count + ' tokens' + (nextToken ? ' shown' : '');
      loadMore.hidden = !nextToken;
    }

    function tokenRow(t) {
      var active = t.status === 'Active';
      var badge = el('span', { class: 'badge ' + (active ? 'badge-active' : 'badge-revoked'), testid: 'token-status',
        title: !active && t.revokedOn ? 'Revoked ' + fmtTime(t.revokedOn) : null, text: active ? 'Active' : 'Revoked' });
      var actions = el('td', { class: 'actions' });
      if (active) {
        var revoke = el('button', { type: 'button', class: 'btn btn-sm btn-danger', testid: 'revoke',
          'aria-label': 'Revoke token ' + t.clientId, text: 'Revoke' });
        revoke.addEventListener('click', function () { revokeToken(t, revoke); });
        actions.appendChild(revoke);
      }
      return el('tr', { testid: 'token-row', 'data-client-id': t.clientId, 'data-status': t.status, class: active ? '' : 'is-revoked' },
        el('td', { class: 'id-cell', testid: 'row-client-id', text: t.clientId }),
        el('td', { class: 'desc', testid: 'row-description' },
          t.description ? t.description : el('span', { class: 'faint', text: 'No description' })),
        el('td', { testid: 'row-role', text: t.roleName }),
        el('td', null, badge),
        timeCell(t.createdOn, '\u2014'),
        timeCell(t.lastAccessOn, 'never'),
        actions);
    }

    function addRow(t, atTop) {
      if (rows[t.clientId]) return;
      var tr = tokenRow(t);
      rows[t.clientId] = tr;
      if (atTop) {
        tr.classList.add('is-new');
        tbody.insertBefore(tr, tbody.firstChild);
      } else {
        tbody.appendChild(tr);
      }
      count += 1;
    }

    function replaceRow(t) {
      var old = rows[t.clientId];
      var tr = tokenRow(t);
      rows[t.clientId] = tr;
      if (old && old.parentNode) old.parentNode.replaceChild(tr, old);
    }

    function revokeToken(t, button) {
      var name = t.clientId + (t.description ? ' (\u201c' + t.description + '\u201d)' : '');
      var ok = window.confirm('Revoke the token ' + name + '?\n\nPrograms using it lose access at once, ' +
        'including access tokens it was already given. This cannot be undone.');
      if (!ok) return;
      hideError(alerts);
      button.disabled = true;
      button.textContent = 'Revoking\u2026';
      api('POST', V1 + '/apiToken/' + encodeURIComponent(t.clientId) + ':revoke', {}).then(function (updated) {
        replaceRow(updated || Object.assign({}, t, { status: 'Revoked' }));
        toast('Token ' + t.clientId + ' revoked.');
      }).catch(function (err) {
        button.disabled = false;
        button.textContent = 'Revoke';
        showError(alerts, err, 'revoke API auth tokens', 'ManageSecurity');
      });
    }

    function loadPage() {
      loadMore.disabled = true;
      loadMore.textContent = 'Loading\u2026';
      var url = V1 + '/apiToken?pageSize=' + PAGE_SIZE + (nextToken ? '&pageToken=' + encodeURIComponent(nextToken) : '');
      return api('GET', url).then(function (data) {
        ((data && data.result) || []).forEach(function (t) { addRow(t, false); });
        nextToken = (data && data.nextPageToken) || '';
      }).catch(function (err) {
        showError(alerts, err, 'view API auth tokens', 'ManageSecurity');
      }).then(function () {
        loading.hidden = true;
        loadMore.disabled = false;
        loadMore.textContent = 'Load more';
        refreshChrome();
      });
    }

    function openGenerate() {
      hideError(alerts);
      openGenerateDialog(function (t) {
        addRow(t, true);
        refreshChrome();
      });
    }

    generateBtn.addEventListener('click', openGenerate);
    emptyGenerate.addEventListener('click', openGenerate);
    loadMore.addEventListener('click', loadPage);
    loadPage();
  }

  /*
   * Generate new token: Description + Role → Create token; then Client ID and Secret key
   * (shown once), "I have saved the secret key", Save token. onSaved(token) runs when the
   * dialog goes away after a token was created (Save token, or a confirmed close).
   */
  function openGenerateDialog(onSaved) {
    var step = 1;
    var created = null;
    var saved = null;
    var m = modal('Generate new token', {
      testid: 'generate-dialog',
      onRequestClose: function () {
        if (step !== 2) return true;
        return window.confirm(saved && saved.checked
          ? 'Close without saving? The secret key will not be shown again.'
          : 'You have not confirmed that you saved the secret key. It will not be shown again.\n\nClose anyway?');
      },
      onClosed: function () {
        if (created) {
          var t = created;
          created = null;
          delete t.clientSecret;
          onSaved(t);
        }
      },
    });

    /* Step 1: details. */
    var description = el('input', { class: 'input', id: 'token-description', type: 'text', maxlength: 256,
      autocomplete: 'off', placeholder: 'e.g. CI deploys', testid: 'token-description' });
    var role = el('select', { class: 'input', id: 'token-role', testid: 'role-select', required: true });
    var roles = (session.activeRoles || []).slice();
    roleOptions(role, roles, 'Select a role\u2026');
    var errorBox = el('div', { testid: 'dialog-error', hidden: true });
    var create = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'create-token', text: 'Create token' });
    var cancel = el('button', { type: 'button', class: 'btn', text: 'Cancel', testid: 'cancel' });
    var form = el('form', { novalidate: true, id: 'token-form' },
      stepper(1),
      el('p', { class: 'lead', text: 'The token acts with the role you assign: it can call the API endpoints ' +
        'that role\u2019s privileges allow.' }),
      el('div', { class: 'field' },
        el('label', { for: 'token-description', text: 'Description' }),
        description,
        el('span', { class: 'hint', text: 'Helps you recognise the token and what uses it in the list.' })),
      el('div', { class: 'field' },
        el('label', { for: 'token-role', text: 'Role' }),
        role,
        el('span', { class: 'hint', text: 'Only roles in your active role set are listed.' })),
      errorBox);
    m.body.appendChild(form);
    create.setAttribute('form', 'token-form');
    append(m.footer, [cancel, create]);
    cancel.addEventListener('click', function () { m.requestClose(); });
    description.focus();

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      hideError(errorBox);
      if (!role.value) {
        clear(errorBox);
        errorBox.appendChild(el('div', { class: 'alert alert-error', role: 'alert', text: 'Choose a role for the token.' }));
        errorBox.hidden = false;
        role.focus();
        return;
      }
      create.disabled = true;
      cancel.disabled = true;
      create.textContent = 'Creating\u2026';
      api('POST', V1 + '/apiToken', { description: description.value.trim(), roleId: role.value }).then(function (t) {
        created = t;
        showSecret(t);
      }).catch(function (err) {
        create.disabled = false;
        cancel.disabled = false;
        create.textContent = 'Create token';
        showError(errorBox, err, 'generate API auth tokens', 'ManageSecurity');
      });
    });

    /* Step 2: the secret, once. */
    function showSecret(t) {
      step = 2;
      m.heading.textContent = 'Save your secret key';
      clear(m.body);
      clear(m.footer);
      saved = el('input', { type: 'checkbox', id: 'saved-checkbox', testid: 'saved-checkbox' });
      var save = el('button', { type: 'button', class: 'btn btn-primary', testid: 'save-token', text: 'Save token', disabled: true });
      var copySecret;
      append(m.body, [
        stepper(2),
        el('div', { class: 'alert alert-warn', testid: 'secret-warning' },
          el('div', { class: 'alert-body' },
            el('strong', { text: 'Copy the secret key now. It will not be shown again.' }),
            el('span', { class: 'alert-detail', text: 'keygate keeps only a hash of it. If you lose it, revoke this ' +
              'token and generate a new one.' }))),
        copyRow('Client ID', t.clientId, 'client-id', 'copy-client-id'),
        (copySecret = copyRow('Secret key', t.clientSecret, 'secret-key', 'copy-secret', 'secret')),
        el('p', { class: 'muted', testid: 'token-summary' },
          'Assigned role: ', el('strong', { text: t.roleName }),
          t.description ? [' \u00b7 Description: ', el('span', { text: t.description })] : null),
        el('label', { class: 'checkbox', for: 'saved-checkbox' }, saved, 'I have saved the secret key')]);
      m.footer.appendChild(save);
      saved.addEventListener('change', function () { save.disabled = !saved.checked; });
      save.addEventListener('click', function () {
        if (!saved.checked) return;
        step = 3;
        m.close();
        toast('Token saved. It is active now.');
      });
      var btn = copySecret.querySelector('button');
      if (btn) btn.focus();
    }
  }

  /* ======================================================================================
   * Roles
   * ==================================================================================== */

  function renderRoles() {
    document.title = 'Roles \u00b7 keygate';
    var intro = 'A role bundles privileges. Tokens and users act with their role, every role granted ' +
      'to it and public; a privilege is allowed when a role in that set allows it and none denies it.';
    var canList = has('ManageSecurity');
    var canCreate = has('CreateRole');
    if (!canList && !canCreate) {
      append(viewEl, [pageHeader('Roles', intro),
        permissionState('You can\u2019t manage roles', 'ManageSecurity', 'view and change roles')]);
      return;
    }
    var alerts = el('div', { id: 'page-alerts', hidden: true });
    var createBtn = canCreate
      ? el('button', { type: 'button', class: 'btn btn-primary', testid: 'new-role' }, icon('plus'), 'Create role') : null;
    append(viewEl, [pageHeader('Roles', intro, createBtn), alerts]);

    /* Create role. */
    var nameIn = el('input', { class: 'input', id: 'role-name', type: 'text', autocomplete: 'off', placeholder: 'e.g. security_admin', testid: 'role-name' });
    var descIn = el('input', { class: 'input', id: 'role-description', type: 'text', autocomplete: 'off', placeholder: 'What this role is for', testid: 'role-description' });
    var createErr = el('div', { hidden: true, testid: 'create-role-error' });
    var createSubmit = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'create-role', text: 'Create role' });
    var createCancel = el('button', { type: 'button', class: 'btn', text: 'Cancel' });
    var createCard = el('form', { class: 'card card-pad', novalidate: true, testid: 'create-role-form', hidden: true },
      el('h2', { text: 'Create role' }),
      createErr,
      el('div', { class: 'inline-form' },
        el('div', { class: 'field' }, el('label', { for: 'role-name', text: 'Role name' }), nameIn),
        el('div', { class: 'field grow' }, el('label', { for: 'role-description', text: 'Description' }), descIn),
        el('div', { class: 'field' }, createSubmit),
        el('div', { class: 'field' }, createCancel)),
      el('p', { class: 'muted', text: 'A role name is 1 to 64 of a\u2013z, 0\u20139 and _. The new role is ' +
        'granted to your role so you can hand it out.' }));
    viewEl.appendChild(createCard);
    if (createBtn) {
      createBtn.addEventListener('click', function () {
        createCard.hidden = false;
        nameIn.focus();
      });
    }
    createCancel.addEventListener('click', function () {
      createCard.hidden = true;
      hideError(createErr);
    });
    createCard.addEventListener('submit', function (ev) {
      ev.preventDefault();
      hideError(createErr);
      var name = nameIn.value.trim();
      if (!name) {
        createErr.appendChild(el('div', { class: 'alert alert-error', role: 'alert', text: 'Enter a role name.' }));
        createErr.hidden = false;
        nameIn.focus();
        return;
      }
      createSubmit.disabled = true;
      api('POST', V1 + '/role', { roleName: name, roleDescription: descIn.value.trim() }).then(function (r) {
        nameIn.value = '';
        descIn.value = '';
        createCard.hidden = true;
        toast('Role ' + r.roleName + ' created.');
        return refreshSession().then(function () { if (canList) upsert(r, true); });
      }).catch(function (err) {
        showError(createErr, err, 'create roles', 'CreateRole');
      }).then(function () { createSubmit.disabled = false; });
    });

    if (!canList) {
      viewEl.appendChild(el('div', { class: 'alert alert-info', testid: 'permission-message' },
        el('div', { class: 'alert-body' }, 'You can create roles, but you need the ManageSecurity privilege to ' +
          'list roles or change their privileges.')));
      return;
    }

    var all = [];
    var rows = {};
    var tbody = el('tbody', { testid: 'role-table-body' });
    var loading = el('p', { class: 'loading', text: 'Loading roles\u2026' });
    var table = el('div', { class: 'table-wrap', hidden: true },
      el('table', { class: 'data' },
        el('thead', null, el('tr', null,
          el('th', { scope: 'col', text: 'Name' }),
          el('th', { scope: 'col', text: 'Description' }),
          el('th', { scope: 'col', text: 'Granted roles' }),
          el('th', { scope: 'col', text: 'Created' }),
          el('th', { scope: 'col', class: 'actions' }, el('span', { class: 'visually-hidden', text: 'Actions' })))),
        tbody));
    append(viewEl, [loading, table]);

    function roleRow(r) {
      var granted = el('td', { testid: 'role-granted' });
      (r.directlyGrantedRoles || []).forEach(function (g) {
        granted.appendChild(el('span', { class: 'chip plain', text: g.roleName || g.roleId }));
      });
      if (!granted.firstChild) granted.appendChild(el('span', { class: 'faint', text: '\u2014' }));
      var manage = el('button', { type: 'button', class: 'btn btn-sm', testid: 'role-manage', text: 'Manage',
        'aria-label': 'Manage role ' + r.roleName });
      manage.addEventListener('click', function () { openRoleDialog(r); });
      return el('tr', { testid: 'role-row', 'data-role-name': r.roleName, 'data-role-id': r.roleId },
        el('td', null, el('strong', { text: r.roleName })),
        el('td', { class: 'desc', text: r.roleDescription || '' }),
        granted,
        timeCell(r.createdOn, '\u2014'),
        el('td', { class: 'actions' }, manage));
    }

    function upsert(r, atTop) {
      var tr = roleRow(r);
      var old = rows[r.roleId];
      rows[r.roleId] = tr;
      var i = all.findIndex(function (x) { return x.roleId === r.roleId; });
      if (i >= 0) all[i] = r;
      else all.push(r);
      if (old && old.parentNode) old.parentNode.replaceChild(tr, old);
      else if (atTop) tbody.insertBefore(tr, tbody.firstChild);
      else tbody.appendChild(tr);
      table.hidden = false;
    }

    function openRoleDialog(r) {
      var m = modal('Role: ' + r.roleName, { wide: true, testid: 'role-dialog' });
      var errBox = el('div', { hidden: true, testid: 'dialog-error' });
      var done = el('button', { type: 'button', class: 'btn', text: 'Done', testid: 'dialog-done' });
      done.addEventListener('click', function () { m.close(); });
      m.footer.appendChild(done);
      m.body.appendChild(errBox);
      if (r.roleDescription) m.body.appendChild(el('p', { class: 'lead', text: r.roleDescription }));
      if (r.roleName === 'accountadmin') {
        m.body.appendChild(el('div', { class: 'alert alert-info' }, el('div', { class: 'alert-body',
          text: 'accountadmin holds every privilege and every role. It cannot be changed.' })));
        return;
      }

      /* Privileges. */
      var privBody = el('tbody', { testid: 'privilege-table-body' });
      var privEmpty = el('p', { class: 'muted', text: 'No privileges granted to this role.', hidden: true });
      var kind = el('select', { class: 'input', id: 'privilege-kind', testid: 'privilege-kind' },
        el('option', { value: 'Allow', text: 'Allow' }), el('option', { value: 'Deny', text: 'Deny' }));
      var listId = 'privilege-names';
      var privName = el('input', { class: 'input', id: 'privilege-name', type: 'text', list: listId, autocomplete: 'off',
        placeholder: 'e.g. ManageSecurity', testid: 'privilege-name' });
      var datalist = el('datalist', { id: listId });
      KNOWN_PRIVILEGES.forEach(function (p) { datalist.appendChild(el('option', { value: p })); });
      var grantPriv = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'grant-privilege', text: 'Grant' });
      var privForm = el('form', { class: 'inline-form', novalidate: true },
        el('div', { class: 'field' }, el('label', { for: 'privilege-kind', text: 'Kind' }), kind),
        el('div', { class: 'field grow' }, el('label', { for: 'privilege-name', text: 'Privilege' }), privName, datalist),
        el('div', { class: 'field' }, grantPriv));

      function privRow(p) {
        var rv = el('button', { type: 'button', class: 'btn btn-sm btn-danger', testid: 'revoke-privilege', text: 'Revoke',
          'aria-label': 'Revoke ' + p.grantKind + ' ' + p.privilege });
        rv.addEventListener('click', function () {
          hideError(errBox);
          rv.disabled = true;
          api('POST', V1 + '/role/' + encodeURIComponent(r.roleId) + '/privilege:revoke', { grantKind: p.grantKind, privilege: p.privilege })
            .then(function () { toast(p.grantKind + ' ' + p.privilege + ' revoked from ' + r.roleName + '.'); return loadPrivs(); })
            .catch(function (err) { rv.disabled = false; showError(errBox, err, 'change privileges', 'ManageSecurity'); });
        });
        return el('tr', { testid: 'privilege-row', 'data-privilege': p.privilege, 'data-kind': p.grantKind },
          el('td', null, el('span', { class: 'chip plain ' + (p.grantKind === 'Deny' ? 'deny' : 'allow'), text: p.grantKind })),
          el('td', null, el('code', { text: p.privilege })),
          el('td', { class: 'actions' }, rv));
      }

      function loadPrivs() {
        return listAll(V1 + '/role/' + encodeURIComponent(r.roleId) + '/privilege').then(function (ps) {
          clear(privBody);
          ps.forEach(function (p) { privBody.appendChild(privRow(p)); });
          privEmpty.hidden = ps.length > 0;
          privTable.hidden = ps.length === 0;
        }).catch(function (err) { showError(errBox, err, 'view privileges', 'ManageSecurity'); });
      }

      var privTable = el('div', { class: 'table-wrap', hidden: true },
        el('table', { class: 'data' },
          el('thead', null, el('tr', null, el('th', { text: 'Kind' }), el('th', { text: 'Privilege' }),
            el('th', { class: 'actions' }, el('span', { class: 'visually-hidden', text: 'Actions' })))),
          privBody));

      privForm.addEventListener('submit', function (ev) {
        ev.preventDefault();
        hideError(errBox);
        var name = privName.value.trim();
        if (!name) {
          privName.focus();
          return;
        }
        grantPriv.disabled = true;
        api('POST', V1 + '/role/' + encodeURIComponent(r.roleId) + '/privilege:grant', { grantKind: kind.value, privilege: name })
          .then(function () {
            privName.value = '';
            toast(kind.value + ' ' + name + ' granted to ' + r.roleName + '.');
            return loadPrivs();
          })
          .catch(function (err) { showError(errBox, err, 'change privileges', 'ManageSecurity'); })
          .then(function () { grantPriv.disabled = false; });
      });

      /* Granted roles. */
      var chips = el('div', { testid: 'granted-roles' });
      var grantSel = el('select', { class: 'input', id: 'grant-role-select', testid: 'grant-role-select' });
      var grantRoleBtn = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'grant-role', text: 'Grant role' });
      var grantForm = el('form', { class: 'inline-form', novalidate: true },
        el('div', { class: 'field grow' }, el('label', { for: 'grant-role-select', text: 'Role to grant' }), grantSel),
        el('div', { class: 'field' }, grantRoleBtn));

      function drawGranted() {
        clear(chips);
        var granted = r.directlyGrantedRoles || [];
        granted.forEach(function (g) {
          var x = el('button', { type: 'button', class: 'chip-x', 'aria-label': 'Remove ' + (g.roleName || g.roleId) + ' from ' + r.roleName, text: '\u00d7' });
          x.addEventListener('click', function () {
            if (!window.confirm('Remove the role ' + (g.roleName || g.roleId) + ' from ' + r.roleName + '?')) return;
            patchGranted(granted.filter(function (o) { return o.roleId !== g.roleId; }), 'Removed ' + (g.roleName || g.roleId) + '.');
          });
          chips.appendChild(el('span', { class: 'chip', testid: 'granted-role', 'data-role-name': g.roleName || '' }, g.roleName || g.roleId, x));
        });
        if (!granted.length) chips.appendChild(el('p', { class: 'muted', text: 'No roles granted to this role.' }));
        var have = {};
        granted.forEach(function (g) { have[g.roleId] = true; });
        var choices = (session.activeRoles || []).filter(function (o) {
          return o.roleId !== r.roleId && !have[o.roleId] && o.roleName !== 'public';
        });
        roleOptions(grantSel, choices, choices.length ? 'Select a role\u2026' : 'No other roles to grant');
        grantSel.disabled = grantRoleBtn.disabled = choices.length === 0;
      }

      function patchGranted(list, message) {
        hideError(errBox);
        return api('PATCH', V1 + '/role/' + encodeURIComponent(r.roleId),
          { directlyGrantedRoles: list.map(function (g) { return { roleId: g.roleId }; }) })
          .then(function (updated) {
            r = updated;
            upsert(updated);
            drawGranted();
            toast(message);
          })
          .catch(function (err) { showError(errBox, err, 'change this role', 'ManageSecurity'); drawGranted(); });
      }

      grantForm.addEventListener('submit', function (ev) {
        ev.preventDefault();
        if (!grantSel.value) return;
        var name = grantSel.options[grantSel.selectedIndex].text;
        patchGranted((r.directlyGrantedRoles || []).concat([{ roleId: grantSel.value }]), name + ' granted to ' + r.roleName + '.');
      });

      append(m.body, [
        el('h3', { class: 'section-title', text: 'Privileges' }), privEmpty, privTable,
        el('div', { class: 'card card-pad' }, privForm),
        el('h3', { class: 'section-title', text: 'Granted roles' }),
        el('p', { class: 'muted', text: 'Holders of ' + r.roleName + ' also act with these roles.' }),
        chips, el('div', { class: 'card card-pad' }, grantForm)]);
      drawGranted();
      loadPrivs();
    }

    listAll(V1 + '/role').then(function (list) {
      list.forEach(function (r) { upsert(r, false); });
    }).catch(function (err) {
      showError(alerts, err, 'view roles', 'ManageSecurity');
    }).then(function () { loading.hidden = true; });
  }

  /* ======================================================================================
   * Users
   * ==================================================================================== */

  function renderUsers() {
    document.title = 'Users \u00b7 keygate';
    var intro = 'People who can sign in to this pane. Each acts with the roles granted to them.';
    var canList = has('ManageSecurity');
    var canCreate = has('CreateUser');
    if (!canList && !canCreate) {
      append(viewEl, [pageHeader('Users', intro),
        permissionState('You can\u2019t manage users', 'ManageSecurity', 'view and change users')]);
      return;
    }
    var alerts = el('div', { id: 'page-alerts', hidden: true });
    var createBtn = canCreate
      ? el('button', { type: 'button', class: 'btn btn-primary', testid: 'new-user' }, icon('plus'), 'Create user') : null;
    append(viewEl, [pageHeader('Users', intro, createBtn), alerts]);

    /* Create user; the one-time password panel. */
    var emailIn = el('input', { class: 'input', id: 'user-email-input', type: 'email', autocomplete: 'off', placeholder: 'name@example.com', testid: 'user-email-input' });
    var roleSel = el('select', { class: 'input', id: 'user-role-select', testid: 'user-role-select' });
    roleOptions(roleSel, session.activeRoles || [], 'Select a role\u2026');
    var createErr = el('div', { hidden: true, testid: 'create-user-error' });
    var createSubmit = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'create-user', text: 'Create user' });
    var createCancel = el('button', { type: 'button', class: 'btn', text: 'Cancel' });
    var createCard = el('form', { class: 'card card-pad', novalidate: true, testid: 'create-user-form', hidden: true },
      el('h2', { text: 'Create user' }),
      createErr,
      el('div', { class: 'inline-form' },
        el('div', { class: 'field grow' }, el('label', { for: 'user-email-input', text: 'Email' }), emailIn),
        el('div', { class: 'field grow' }, el('label', { for: 'user-role-select', text: 'Role' }), roleSel),
        el('div', { class: 'field' }, createSubmit),
        el('div', { class: 'field' }, createCancel)),
      el('p', { class: 'muted', text: 'keygate generates a password and shows it once. Only roles in your active role set are listed.' }));
    var oneTime = el('div', { class: 'one-time', hidden: true });
    append(viewEl, [createCard, oneTime]);

    if (createBtn) {
      createBtn.addEventListener('click', function () {
        clear(oneTime);
        oneTime.hidden = true;
        createCard.hidden = false;
        emailIn.focus();
      });
    }
    createCancel.addEventListener('click', function () {
      createCard.hidden = true;
      hideError(createErr);
    });

    function showPassword(u) {
      clear(oneTime);
      var doneBtn = el('button', { type: 'button', class: 'btn btn-primary btn-sm', testid: 'password-done', text: 'Done' });
      doneBtn.addEventListener('click', function () {
        clear(oneTime);
        oneTime.hidden = true;
      });
      oneTime.appendChild(el('div', { class: 'card card-pad', testid: 'one-time-password' },
        el('div', { class: 'alert alert-warn' }, el('div', { class: 'alert-body' },
          el('strong', { text: 'User ' + u.email + ' created. Copy their password now: it will not be shown again.' }),
          el('span', { class: 'alert-detail', text: 'Give it to them over a safe channel.' }))),
        copyRow('One-time password', u.password, 'user-password', 'copy-password', 'secret'),
        doneBtn));
      oneTime.hidden = false;
      delete u.password;
    }

    createCard.addEventListener('submit', function (ev) {
      ev.preventDefault();
      hideError(createErr);
      var email = emailIn.value.trim();
      var msg = !email || email.indexOf('@') < 1 ? 'Enter an email address.' : !roleSel.value ? 'Choose a role for the user.' : '';
      if (msg) {
        createErr.appendChild(el('div', { class: 'alert alert-error', role: 'alert', text: msg }));
        createErr.hidden = false;
        return;
      }
      createSubmit.disabled = true;
      api('POST', V1 + '/user', { email: email, directlyGrantedRoles: [{ roleId: roleSel.value }] }).then(function (u) {
        emailIn.value = '';
        roleSel.selectedIndex = 0;
        createCard.hidden = true;
        showPassword(u);
        if (canList) upsert(u, true);
      }).catch(function (err) {
        showError(createErr, err, 'create users', 'CreateUser');
      }).then(function () { createSubmit.disabled = false; });
    });

    if (!canList) {
      viewEl.appendChild(el('div', { class: 'alert alert-info', testid: 'permission-message' },
        el('div', { class: 'alert-body' }, 'You can create users, but you need the ManageSecurity privilege to ' +
          'list users or change their roles.')));
      return;
    }

    var rows = {};
    var nextToken = '';
    var tbody = el('tbody', { testid: 'user-table-body' });
    var loading = el('p', { class: 'loading', text: 'Loading users\u2026' });
    var loadMore = el('button', { type: 'button', class: 'btn btn-sm', testid: 'load-more-users', text: 'Load more', hidden: true });
    var countText = el('span');
    var table = el('div', { class: 'table-wrap', hidden: true },
      el('table', { class: 'data' },
        el('thead', null, el('tr', null,
          el('th', { scope: 'col', text: 'Email' }),
          el('th', { scope: 'col', text: 'Roles' }),
          el('th', { scope: 'col', text: 'Created' }),
          el('th', { scope: 'col', class: 'actions' }, el('span', { class: 'visually-hidden', text: 'Actions' })))),
        tbody),
      el('div', { class: 'table-footer' }, countText, loadMore));
    append(viewEl, [loading, table]);

    function userRow(u) {
      var rolesTd = el('td', { testid: 'user-roles-cell' });
      (u.directlyGrantedRoles || []).forEach(function (g) {
        rolesTd.appendChild(el('span', { class: 'chip plain', testid: 'user-role', text: g.roleName || g.roleId }));
      });
      if (!rolesTd.firstChild) rolesTd.appendChild(el('span', { class: 'faint', text: 'public only' }));
      var manage = el('button', { type: 'button', class: 'btn btn-sm', testid: 'user-manage', text: 'Manage roles',
        'aria-label': 'Manage roles of ' + u.email });
      manage.addEventListener('click', function () { openUserDialog(u); });
      var me = session && u.userId === session.userId;
      return el('tr', { testid: 'user-row', 'data-email': u.email, 'data-user-id': u.userId },
        el('td', null, el('strong', { text: u.email }), me ? el('span', { class: 'muted', text: ' (you)' }) : null),
        rolesTd,
        timeCell(u.createdOn, '\u2014'),
        el('td', { class: 'actions' }, manage));
    }

    function upsert(u, atTop) {
      var tr = userRow(u);
      var old = rows[u.userId];
      rows[u.userId] = tr;
      if (old && old.parentNode) old.parentNode.replaceChild(tr, old);
      else if (atTop) tbody.insertBefore(tr, tbody.firstChild);
      else tbody.appendChild(tr);
      table.hidden = false;
      var n = Object.keys(rows).length;
      countText.textContent = n + (n === 1 ? ' user' : ' users') + (nextToken ? ' shown' : '');
    }

    function openUserDialog(u) {
      var m = modal('Roles of ' + u.email, { testid: 'user-dialog' });
      var errBox = el('div', { hidden: true, testid: 'dialog-error' });
      var chips = el('div', { testid: 'user-granted-roles' });
      var sel = el('select', { class: 'input', id: 'user-grant-select', testid: 'user-grant-select' });
      var grantBtn = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'user-grant-role', text: 'Grant role' });
      var form = el('form', { class: 'inline-form', novalidate: true },
        el('div', { class: 'field grow' }, el('label', { for: 'user-grant-select', text: 'Role to grant' }), sel),
        el('div', { class: 'field' }, grantBtn));
      var done = el('button', { type: 'button', class: 'btn', text: 'Done', testid: 'dialog-done' });
      done.addEventListener('click', function () { m.close(); });
      m.footer.appendChild(done);
      append(m.body, [errBox, el('p', { class: 'lead', text: 'The user acts with these roles, every role granted to them, and public.' }),
        chips, el('div', { class: 'card card-pad' }, form)]);

      function draw() {
        clear(chips);
        var granted = u.directlyGrantedRoles || [];
        granted.forEach(function (g) {
          var x = el('button', { type: 'button', class: 'chip-x', 'aria-label': 'Remove ' + (g.roleName || g.roleId), text: '\u00d7' });
          x.addEventListener('click', function () {
            if (!window.confirm('Remove the role ' + (g.roleName || g.roleId) + ' from ' + u.email + '?')) return;
            patch(granted.filter(function (o) { return o.roleId !== g.roleId; }), 'Removed ' + (g.roleName || g.roleId) + '.');
          });
          chips.appendChild(el('span', { class: 'chip', testid: 'user-granted-role', 'data-role-name': g.roleName || '' }, g.roleName || g.roleId, x));
        });
        if (!granted.length) chips.appendChild(el('p', { class: 'muted', text: 'No roles granted: this user has only public.' }));
        var have = {};
        granted.forEach(function (g) { have[g.roleId] = true; });
        var choices = (session.activeRoles || []).filter(function (o) { return !have[o.roleId] && o.roleName !== 'public'; });
        roleOptions(sel, choices, choices.length ? 'Select a role\u2026' : 'No other roles to grant');
        sel.disabled = grantBtn.disabled = choices.length === 0;
      }

      function patch(list, message) {
        hideError(errBox);
        return api('PATCH', V1 + '/user/' + encodeURIComponent(u.userId),
          { directlyGrantedRoles: list.map(function (g) { return { roleId: g.roleId }; }) })
          .then(function (updated) {
            u = updated;
            upsert(updated);
            draw();
            toast(message);
          })
          .catch(function (err) { showError(errBox, err, 'change this user\u2019s roles', 'ManageSecurity'); draw(); });
      }

      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        if (!sel.value) return;
        var name = sel.options[sel.selectedIndex].text;
        patch((u.directlyGrantedRoles || []).concat([{ roleId: sel.value }]), name + ' granted to ' + u.email + '.');
      });
      draw();
    }

    function loadPage() {
      loadMore.disabled = true;
      var url = V1 + '/user?pageSize=' + PAGE_SIZE + (nextToken ? '&pageToken=' + encodeURIComponent(nextToken) : '');
      return api('GET', url).then(function (data) {
        nextToken = (data && data.nextPageToken) || '';
        ((data && data.result) || []).forEach(function (u) { if (!rows[u.userId]) upsert(u, false); });
      }).catch(function (err) {
        showError(alerts, err, 'view users', 'ManageSecurity');
      }).then(function () {
        loading.hidden = true;
        loadMore.disabled = false;
        loadMore.hidden = !nextToken;
      });
    }
    loadMore.addEventListener('click', loadPage);
    loadPage();
  }

  /* ======================================================================================
   * Audit log
   * ==================================================================================== */

  /* Plain words for the action names, as a tooltip: the table shows the exact name. */
  var AUDIT_ACTIONS = {
    'apiToken.create': 'API auth token generated',
    'apiToken.revoke': 'API auth token revoked',
    'role.create': 'Role created',
    'role.update': 'Role changed',
    'role.delete': 'Role deleted',
    'privilege.grant': 'Privilege granted to a role',
    'privilege.revoke': 'Privilege revoked from a role',
    'user.create': 'User created',
    'user.update': 'User changed',
    'user.delete': 'User deleted',
    signIn: 'Sign-in to the pane',
    signOut: 'Sign-out from the pane',
    request: 'A change refused: the caller lacks the privilege it needs',
  };

  function pad2(n) {
    return (n < 10 ? '0' : '') + n;
  }

  /* A datetime-local value ("2026-12-01T13:30", local time) as UTC RFC 3339
   * ("2026-12-01T12:30:00Z"); '' for '', null when it is not a time. */
  function localToUtc(value) {
    if (!value) return '';
    var m = /^(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(value);
    if (!m) return null;
    var d = new Date(2000, 0, 1);
    d.setFullYear(+m[1], +m[2] - 1, +m[3]);
    d.setHours(+m[4], +m[5], +(m[6] || 0), 0);
    if (isNaN(d.getTime())) return null;
    return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /* The other way, to fill a datetime-local input from the address bar; '' if not a time. */
  function utcToLocal(iso) {
    if (!iso || !/^\d{4}-\d{2}-\d{2}T/.test(iso)) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + 'T' +
      pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + (d.getSeconds() ? ':' + pad2(d.getSeconds()) : '');
  }

  function renderAuditLog() {
    document.title = 'Audit log \u00b7 keygate';
    var intro = 'Who did what in keygate, newest first: changes to API auth tokens, roles, privileges and users, and sign-ins.';
    if (!has('ViewAuditLog')) {
      append(viewEl, [pageHeader('Audit log', intro),
        permissionState('You can\u2019t view the audit log', 'ViewAuditLog', 'view the audit log')]);
      return;
    }

    var zone = '';
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { zone = ''; }
    var params = new URLSearchParams(window.location.search);

    /* Filters: Actor, From, To; Apply. They live in the address bar too (?actor=&since=&until=). */
    var filterErr = el('div', { hidden: true, testid: 'audit-filter-error' });
    var actorIn = el('input', { class: 'input mono', id: 'audit-actor', type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: 64,
      placeholder: 'e.g. u-0123456789, kgc_\u2026 or cli', testid: 'audit-actor', value: params.get('actor') || '' });
    var sinceIn = el('input', { class: 'input', id: 'audit-since', type: 'datetime-local', testid: 'audit-since',
      value: utcToLocal(params.get('since') || '') });
    var untilIn = el('input', { class: 'input', id: 'audit-until', type: 'datetime-local', testid: 'audit-until',
      value: utcToLocal(params.get('until') || '') });
    var applyBtn = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'audit-apply', text: 'Apply' });
    var clearBtn = el('button', { type: 'button', class: 'btn', testid: 'audit-clear', text: 'Clear' });
    var form = el('form', { class: 'card card-pad audit-filters', novalidate: true, role: 'search',
      'aria-label': 'Filter the audit log', testid: 'audit-filters' },
      filterErr,
      el('div', { class: 'inline-form' },
        el('div', { class: 'field grow' }, el('label', { for: 'audit-actor', text: 'Actor' }), actorIn),
        el('div', { class: 'field when' }, el('label', { for: 'audit-since', text: 'From' }), sinceIn),
        el('div', { class: 'field when' }, el('label', { for: 'audit-until', text: 'To' }), untilIn),
        el('div', { class: 'field' }, applyBtn),
        el('div', { class: 'field' }, clearBtn)),
      el('p', { class: 'filter-hint', id: 'audit-filter-hint', text: 'Actor is an exact user ID, Client ID or cli. ' +
        'From and To are in your time zone' + (zone ? ' (' + zone + ')' : '') + '; To is not included.' }));
    actorIn.setAttribute('aria-describedby', 'audit-filter-hint');

    var alerts = el('div', { id: 'page-alerts', hidden: true });
    var loading = el('p', { class: 'loading', testid: 'audit-loading', text: 'Loading audit log\u2026' });
    var emptyTitle = el('h2');
    var emptyText = el('p');
    var empty = el('div', { class: 'card empty-state', testid: 'audit-empty', role: 'status', hidden: true },
      el('div', { class: 'empty-icon' }, icon('log')), emptyTitle, emptyText);
    var tbody = el('tbody', { testid: 'audit-table-body' });
    var countText = el('span', { testid: 'audit-count' });
    var loadMore = el('button', { type: 'button', class: 'btn btn-sm', testid: 'load-more-audit', text: 'Load more', hidden: true });
    var table = el('div', { class: 'table-wrap', testid: 'audit-table', hidden: true },
      el('table', { class: 'data audit' },
        el('caption', { class: 'visually-hidden', text: 'Audit log entries, newest first' }),
        el('thead', null, el('tr', null,
          el('th', { scope: 'col', text: 'Time' }),
          el('th', { scope: 'col', text: 'Actor' }),
          el('th', { scope: 'col', text: 'Action' }),
          el('th', { scope: 'col', text: 'Target' }),
          el('th', { scope: 'col', text: 'Source address' }),
          el('th', { scope: 'col', text: 'Outcome' }),
          el('th', { scope: 'col', text: 'Detail' }))),
        tbody),
      el('div', { class: 'table-footer' }, countText, loadMore));

    append(viewEl, [pageHeader('Audit log', intro), form, alerts, loading, empty, table]);

    var filters = { actor: '', since: '', until: '' };
    var nextToken = '';
    var count = 0;
    var failed = false;
    var generation = 0;

    function filtered() {
      return !!(filters.actor || filters.since || filters.until);
    }

    function refreshChrome() {
      empty.hidden = count > 0 || failed;
      table.hidden = count === 0;
      countText.textContent = (count === 1 ? '1 entry' : count + ' entries') + (nextToken ? ' shown' : '');
      loadMore.hidden = !nextToken;
      if (filtered()) {
        emptyTitle.textContent = 'No entries match these filters';
        emptyText.textContent = 'Try another actor or a wider time range, or clear the filters.';
      } else {
        emptyTitle.textContent = 'No audit log entries yet';
        emptyText.textContent = 'Changes to API auth tokens, roles, privileges and users, and sign-ins, are listed here as they happen.';
      }
    }

    function textOrDash(td, text) {
      if (text) td.textContent = text;
      else td.appendChild(el('span', { class: 'faint', text: '\u2014' }));
      return td;
    }

    function auditRow(e) {
      var outcome = e.outcome || '';
      var ok = outcome === 'OK';
      var actorTd = el('td', { class: 'id-cell', testid: 'audit-actor-cell' });
      if (e.actor) {
        var by = el('button', { type: 'button', class: 'link-btn', testid: 'audit-actor-filter', text: e.actor,
          title: 'Show only entries by ' + e.actor, 'aria-label': e.actor + ': show only entries by this actor' });
        by.addEventListener('click', function () {
          actorIn.value = e.actor;
          submit();
        });
        actorTd.appendChild(by);
        if (session && e.actor === session.userId) actorTd.appendChild(el('span', { class: 'muted you', text: ' (you)' }));
      } else {
        actorTd.appendChild(el('span', { class: 'faint', text: 'unknown' }));
      }
      var time = timeCell(e.time, '\u2014', true);
      time.setAttribute('data-testid', 'audit-time');
      return el('tr', { testid: 'audit-row', 'data-action': e.action || '', 'data-actor': e.actor || '',
        'data-target': e.target || '', 'data-outcome': outcome, class: ok ? '' : 'is-failed' },
        time,
        actorTd,
        el('td', { class: 'nowrap', testid: 'audit-action' },
          el('code', { text: e.action || '', title: Object.prototype.hasOwnProperty.call(AUDIT_ACTIONS, e.action) ? AUDIT_ACTIONS[e.action] : null })),
        textOrDash(el('td', { class: 'id-cell', testid: 'audit-target', title: e.target || null }), e.target),
        textOrDash(el('td', { class: 'nowrap', testid: 'audit-source' }), e.sourceAddress),
        el('td', null, el('span', { class: 'badge ' + (ok ? 'badge-active' : 'badge-error'), testid: 'audit-outcome',
          text: outcome || 'unknown' })),
        textOrDash(el('td', { class: 'desc', testid: 'audit-detail' }), e.detail));
    }

    function url() {
      var q = ['pageSize=' + PAGE_SIZE];
      if (filters.actor) q.push('actor=' + encodeURIComponent(filters.actor));
      if (filters.since) q.push('since=' + encodeURIComponent(filters.since));
      if (filters.until) q.push('until=' + encodeURIComponent(filters.until));
      if (nextToken) q.push('pageToken=' + encodeURIComponent(nextToken));
      return V1 + '/auditLog?' + q.join('&');
    }

    /* One page; fresh = start again from the newest entry (new filters). A reply to an
     * older request (filters changed meanwhile) is dropped. */
    function load(fresh) {
      var mine = ++generation;
      if (fresh) {
        nextToken = '';
        count = 0;
        clear(tbody);
        table.hidden = true;
        empty.hidden = true;
        loading.hidden = false;
      }
      failed = false;
      hideError(alerts);
      table.setAttribute('aria-busy', 'true');
      loadMore.disabled = true;
      loadMore.textContent = 'Loading\u2026';
      return api('GET', url()).then(function (data) {
        if (mine !== generation) return;
        ((data && data.result) || []).forEach(function (e) {
          tbody.appendChild(auditRow(e));
          count += 1;
        });
        nextToken = (data && data.nextPageToken) || '';
      }).catch(function (err) {
        if (mine !== generation) return;
        failed = true;
        showError(alerts, err, 'view the audit log', 'ViewAuditLog');
      }).then(function () {
        if (mine !== generation) return;
        loading.hidden = true;
        table.removeAttribute('aria-busy');
        loadMore.disabled = false;
        loadMore.textContent = 'Load more';
        refreshChrome();
      });
    }

    function filterError(text, input) {
      clear(filterErr);
      filterErr.appendChild(el('div', { class: 'alert alert-error', role: 'alert', text: text }));
      filterErr.hidden = false;
      if (input) input.focus();
    }

    /* Reads the inputs into filters; false (with a message by the field) when they make no sense. */
    function readFilters() {
      hideError(filterErr);
      var since = sinceIn.validity && sinceIn.validity.badInput ? null : localToUtc(sinceIn.value);
      var until = untilIn.validity && untilIn.validity.badInput ? null : localToUtc(untilIn.value);
      if (since === null) {
        filterError('Enter a complete From date and time, or clear it.', sinceIn);
        return false;
      }
      if (until === null) {
        filterError('Enter a complete To date and time, or clear it.', untilIn);
        return false;
      }
      if (since && until && since >= until) {
        filterError('From must be earlier than To.', untilIn);
        return false;
      }
      filters = { actor: actorIn.value.trim(), since: since, until: until };
      return true;
    }

    function remember() {
      var q = new URLSearchParams();
      if (filters.actor) q.set('actor', filters.actor);
      if (filters.since) q.set('since', filters.since);
      if (filters.until) q.set('until', filters.until);
      var s = q.toString();
      try { window.history.replaceState(null, '', path + (s ? '?' + s : '')); } catch (e) { /* not important */ }
    }

    function submit() {
      if (!readFilters()) return;
      remember();
      load(true);
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      submit();
    });
    clearBtn.addEventListener('click', function () {
      actorIn.value = '';
      sinceIn.value = '';
      untilIn.value = '';
      submit();
    });
    loadMore.addEventListener('click', function () { load(false); });

    if (!readFilters()) filters = { actor: actorIn.value.trim(), since: '', until: '' };
    remember();
    load(true);
  }

  /* ======================================================================================
   * Shell: session, navigation, sign-out, routing
   * ==================================================================================== */

  function fetchSession() {
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

  function refreshSession() {
    return fetchSession().then(function (s) {
      if (s) {
        session = s;
        drawShell();
      }
    }).catch(function () { /* keep the old one */ });
  }

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
    Array.prototype.forEach.call(document.querySelectorAll('.nav-link'), function (a) {
      var on = a.getAttribute('data-path') === path;
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
    if (path === '/api-auth-token') renderTokens();
    else if (path === '/roles') renderRoles();
    else if (path === '/users') renderUsers();
    else if (path === '/audit-log') renderAuditLog();
    else {
      document.title = 'Not found \u00b7 keygate';
      append(viewEl, [pageHeader('Page not found', 'There is nothing at ' + path + '.'),
        el('a', { href: '/api-auth-token', text: 'Go to API auth token' })]);
    }
  }

  document.getElementById('sign-out').addEventListener('click', signOut);

  fetchSession().then(function (s) {
    if (!s) return;
    session = s;
    drawShell();
    route();
  }).catch(function (err) {
    clear(viewEl);
    viewEl.appendChild(errorAlert(err instanceof ApiError ? err : new ApiError(0, null), 'use this page', 'ManageSecurity'));
  });
})();
