/*
 * tokens.js — the API auth token page (/api-auth-token): the list (each token's live secrets
 * and an "Expires soon" badge) with Load more, Revoke, the two-step Generate dialog that shows
 * the secret key once, and a token's Secrets dialog: its secrets, Add secret and Rotate (both
 * show the new secret once, as Generate does) and Delete.  Each row has a sparkline of the
 * token's last 7 days, read for a whole page of rows at once after the rows are drawn; its
 * Client ID links to the token's own page (token.js), its secret count opens the dialog.
 */
import { api, hideError, showError, V1 } from '../lib/api.js';
import { sparkline } from '../lib/chart.js';
import { append, clear, el, fmtTime, icon, timeCell, toast } from '../lib/dom.js';
import { doneButton, modal } from '../lib/modal.js';
import { pageHeader, permissionState, roleOptions } from '../lib/page.js';
import { pager } from '../lib/paging.js';
import { secretOnceDialog } from '../lib/secret-once.js';
import { has, session } from '../lib/session.js';
import { lastSevenDaysSince } from '../lib/usage.js';

var DAY_MS = 86400000;
var SOON_MS = 7 * DAY_MS; /* "Expires soon": the token stops working within a week */
var LIVE_MAX = 5; /* live secrets a token may hold (the server's KG_SECRETS_LIVE_MAX) */

/*
 * When an Active token stops working, in ms: its own expiresOn or the moment its last live
 * secret expires (secretsExpireOn), whichever comes first; 0 when it has no live secret and
 * no time is known; null when it never does.
 */
function stopsAt(t) {
  var at = null;
  function earlier(ms) { if (at === null || ms < at) at = ms; }
  if (t.expiresOn) earlier(Date.parse(t.expiresOn));
  if (t.secretCount === 0) earlier(t.secretsExpireOn ? Date.parse(t.secretsExpireOn) : 0);
  else if (t.secretsExpireOn) earlier(Date.parse(t.secretsExpireOn));
  return at;
}

/* The badge for something that stops at `at` (ms, or null for never): "Expired" once past,
 * "Expires soon" within SOON_MS, else none. */
function expiryBadge(at) {
  if (at === null || isNaN(at)) return null;
  var now = Date.now();
  if (at <= now) {
    return el('span', { class: 'badge badge-revoked', testid: 'expired',
      title: at ? 'Stopped working ' + fmtTime(new Date(at).toISOString()) : 'No live secret', text: 'Expired' });
  }
  if (at - now > SOON_MS) return null;
  return el('span', { class: 'badge badge-warn', testid: 'expires-soon',
    title: 'Stops working ' + fmtTime(new Date(at).toISOString()), text: 'Expires soon' });
}

export function detailHref(clientId) {
  return '/api-auth-token/' + encodeURIComponent(clientId);
}

function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : many);
}

export function render(view) {
  document.title = 'API auth token \u00b7 keygate';
  var intro = 'Generate tokens to use with the keygate API. A program exchanges a token\u2019s ' +
    'Client ID and Secret key for a short-lived access token; the assigned role decides which ' +
    'endpoints it may call.';
  if (!has('ManageSecurity')) {
    append(view, [pageHeader('API auth token', intro),
      permissionState('You can\u2019t manage API auth tokens', 'ManageSecurity', 'view, generate or revoke API auth tokens')]);
    return;
  }

  var rows = {};
  var sparks = {}; /* clientId → its last 7 days, once read */
  var count = 0;
  var alerts = el('div', { id: 'page-alerts', hidden: true });
  var generateBtn = el('button', { type: 'button', class: 'btn btn-primary', testid: 'generate-token' }, icon('plus'), 'Generate new token');
  var tbody = el('tbody', { testid: 'token-table-body' });
  var countText = el('span', { testid: 'token-count' });
  var loading = el('p', { class: 'loading', text: 'Loading tokens\u2026' });
  var list = pager({
    base: V1 + '/apiToken',
    testid: 'load-more',
    onRows: function (ts) {
      ts.forEach(function (t) { addRow(t, false); });
      /* After the rows are drawn: one request for the page's sparklines. */
      fillSparklines(ts.map(function (t) { return t.clientId; }));
    },
    onError: function (err) { showError(alerts, err, 'view API auth tokens', 'ManageSecurity'); },
    onDone: function () {
      loading.hidden = true;
      refreshChrome();
    },
  });
  var table = el('div', { class: 'table-wrap', testid: 'token-table', hidden: true },
    el('table', { class: 'data tokens' },
      el('thead', null, el('tr', null,
        el('th', { scope: 'col', text: 'Client ID' }),
        el('th', { scope: 'col', text: 'Description' }),
        el('th', { scope: 'col', text: 'Assigned role' }),
        el('th', { scope: 'col', text: 'Status' }),
        el('th', { scope: 'col', text: 'Secrets' }),
        el('th', { scope: 'col', text: 'Created' }),
        el('th', { scope: 'col', text: 'Last access' }),
        el('th', { scope: 'col', text: 'Last 7 days' }),
        el('th', { scope: 'col', class: 'actions' }, el('span', { class: 'visually-hidden', text: 'Revoke access' })))),
      tbody),
    el('div', { class: 'table-footer' }, countText, list.button));
  var emptyGenerate = el('button', { type: 'button', class: 'btn btn-primary', testid: 'generate-token-empty' }, icon('plus'), 'Generate new token');
  var empty = el('div', { class: 'card empty-state', testid: 'token-empty', hidden: true },
    el('div', { class: 'empty-icon' }, icon('key')),
    el('h2', { text: 'No API auth tokens yet' }),
    el('p', { text: 'Generate a token to let a program call the API with a role you choose. ' +
      'You will see its secret key once, when you create it.' }),
    emptyGenerate);

  append(view, [pageHeader('API auth token', intro, generateBtn), alerts, loading, empty, table]);

  function refreshChrome() {
    empty.hidden = count > 0;
    table.hidden = count === 0;
    countText.textContent = count === 1 ? '1 token' : count + ' tokens' + (list.more() ? ' shown' : '');
  }

  function tokenRow(t) {
    var active = t.status === 'Active';
    var badge = el('span', { class: 'badge ' + (active ? 'badge-active' : 'badge-revoked'), testid: 'token-status',
      title: !active && t.revokedOn ? 'Revoked ' + fmtTime(t.revokedOn) : null, text: active ? 'Active' : 'Revoked' });
    var n = t.secretCount || 0;
    /* The count opens the token's Secrets dialog (a revoked token's are on its own page). */
    var secretsBtn = el('button', { type: 'button', class: 'link-btn token-link', testid: 'secrets', text: n + ' live',
      title: plural(n, 'live secret', 'live secrets') + ': show them', 'aria-label': t.clientId + ': ' +
        plural(n, 'live secret', 'live secrets') + ', show them' });
    var secretsCell = el('td', { class: 'nowrap', testid: 'row-secret-count', 'data-count': String(n) },
      active ? secretsBtn : el('span', { class: 'faint', text: '\u2014' }));
    /* The Client ID opens the token's own page: its usage and usage controls. */
    var idLink = el('a', { class: 'token-id-link', href: detailHref(t.clientId), testid: 'token-link', text: t.clientId,
      title: 'Details and usage of this token' });
    secretsBtn.addEventListener('click', function () {
      hideError(alerts);
      openSecretsDialog(t, replaceRow, function () {
        /* Back to the row's Client ID: the row may have been redrawn meanwhile. */
        var link = rows[t.clientId] && rows[t.clientId].querySelector('.token-id-link');
        if (link) link.focus();
      });
    });
    var actions = el('td', { class: 'actions' });
    if (active) {
      var revoke = el('button', { type: 'button', class: 'btn btn-sm btn-danger', testid: 'revoke',
        'aria-label': 'Revoke token ' + t.clientId, text: 'Revoke' });
      revoke.addEventListener('click', function () { revokeToken(t, revoke); });
      actions.appendChild(revoke);
    }
    return el('tr', { testid: 'token-row', 'data-client-id': t.clientId, 'data-status': t.status, class: active ? '' : 'is-revoked' },
      el('td', { class: 'id-cell', testid: 'row-client-id' }, idLink),
      el('td', { class: 'desc', testid: 'row-description' },
        t.description ? t.description : el('span', { class: 'faint', text: 'No description' })),
      el('td', { testid: 'row-role', text: t.roleName }),
      el('td', null, el('span', { class: 'badges' }, badge, active ? expiryBadge(stopsAt(t)) : null)),
      secretsCell,
      timeCell(t.createdOn, '\u2014'),
      timeCell(t.lastAccessOn, 'never'),
      sparkCell(t.clientId),
      actions);
  }

  /* The row's "Last 7 days" cell: the sparkline (a link to the token's page) once read. */
  function sparkCell(clientId) {
    var td = el('td', { class: 'spark-cell', testid: 'row-usage' });
    drawSpark(td, clientId);
    return td;
  }

  function drawSpark(td, clientId) {
    clear(td);
    var points = sparks[clientId];
    if (!points) {
      td.appendChild(el('span', { class: 'spark-placeholder', 'aria-hidden': 'true' }));
      return;
    }
    td.setAttribute('data-loaded', 'true');
    td.appendChild(el('a', { class: 'spark-link', href: detailHref(clientId), tabindex: '-1' },
      sparkline(points, { label: 'Last 7 days', granularity: 'day', width: 88 })));
  }

  function fillSparklines(ids) {
    if (!ids.length) return;
    api('GET', V1 + '/usage?granularity=day&since=' + encodeURIComponent(lastSevenDaysSince()) +
      '&clientIds=' + ids.map(encodeURIComponent).join(',')).then(function (u) {
      ((u && u.result) || []).forEach(function (r) {
        sparks[r.clientId] = r.series || [];
        var cell = rows[r.clientId] && rows[r.clientId].querySelector('[data-testid="row-usage"]');
        if (cell) drawSpark(cell, r.clientId);
      });
    }).catch(function () {
      /* The list works without its pictures: the cells say so on hover. */
      ids.forEach(function (id) {
        var cell = rows[id] && rows[id].querySelector('[data-testid="row-usage"]');
        if (cell && !sparks[id]) cell.title = 'Usage could not be read';
      });
    });
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

  function openGenerate() {
    hideError(alerts);
    openGenerateDialog(function (t) {
      addRow(t, true);
      fillSparklines([t.clientId]);
      refreshChrome();
    });
  }

  generateBtn.addEventListener('click', openGenerate);
  emptyGenerate.addEventListener('click', openGenerate);
  list.load(true);
}


/*
 * Generate new token: Description + Role → Create token; then Client ID and Secret key
 * (shown once), "I have saved the secret key", Save token.  onSaved(token) runs when the
 * dialog goes away after a token was created (Save token, or a confirmed close).
 */
function openGenerateDialog(onSaved) {
  var description = el('input', { class: 'input', id: 'token-description', type: 'text', maxlength: 256,
    autocomplete: 'off', placeholder: 'e.g. CI deploys', testid: 'token-description' });
  var role = el('select', { class: 'input', id: 'token-role', testid: 'role-select', required: true });
  roleOptions(role, (session.activeRoles || []).slice(), 'Select a role\u2026');
  secretOnceDialog({
    title: 'Generate new token',
    testid: 'generate-dialog',
    lead: 'The token acts with the role you assign: it can call the API endpoints that role\u2019s privileges allow.',
    fields: [
      el('div', { class: 'field' },
        el('label', { for: 'token-description', text: 'Description' }),
        description,
        el('span', { class: 'hint', text: 'Helps you recognise the token and what uses it in the list.' })),
      el('div', { class: 'field' },
        el('label', { for: 'token-role', text: 'Role' }),
        role,
        el('span', { class: 'hint', text: 'Only roles in your active role set are listed.' }))],
    focus: description,
    submitText: 'Create token',
    submittingText: 'Creating\u2026',
    submitTestid: 'create-token',
    check: function () {
      if (role.value) return '';
      role.focus();
      return 'Choose a role for the token.';
    },
    submit: function () {
      return api('POST', V1 + '/apiToken', { description: description.value.trim(), roleId: role.value });
    },
    what: 'generate API auth tokens',
    secretTitle: 'Save your secret key',
    loseText: 'If you lose it, add a new secret to the token (Secrets) and delete this one.',
    summary: function (t) {
      return el('p', { class: 'muted', testid: 'token-summary' },
        'Assigned role: ', el('strong', { text: t.roleName }),
        t.description ? [' \u00b7 Description: ', el('span', { text: t.description })] : null);
    },
    saveText: 'Save token',
    saveTestid: 'save-token',
    savedToast: 'Token saved. It is active now.',
    onSaved: onSaved,
  });
}

/* ---- a token's secrets ------------------------------------------------------------------ */

var EXPIRY_CHOICES = [['', 'Never'], ['30', 'In 30 days'], ['90', 'In 90 days'], ['365', 'In 1 year']];

/* The fields of a new secret (Add secret, Rotate): description and expiry; body() is the
 * request's {description?, expiresOn?}. */
function newSecretFields() {
  var description = el('input', { class: 'input', id: 'secret-description', type: 'text', maxlength: 128,
    autocomplete: 'off', placeholder: 'e.g. deploy host, 2027', testid: 'secret-description' });
  var expires = el('select', { class: 'input', id: 'secret-expires', testid: 'secret-expires' });
  EXPIRY_CHOICES.forEach(function (c) { expires.appendChild(el('option', { value: c[0], text: c[1] })); });
  return {
    description: description,
    nodes: [
      el('div', { class: 'field' },
        el('label', { for: 'secret-description', text: 'Description' }),
        description,
        el('span', { class: 'hint', text: 'Optional: where this secret is used, so you know which one to delete later.' })),
      el('div', { class: 'field' },
        el('label', { for: 'secret-expires', text: 'Expires' }),
        expires,
        el('span', { class: 'hint', text: 'When this secret stops working by itself. A limit set on the server may make it sooner.' }))],
    body: function () {
      var b = {};
      var d = description.value.trim();
      if (d) b.description = d;
      if (expires.value) b.expiresOn = new Date(Date.now() + Number(expires.value) * DAY_MS).toISOString();
      return b;
    },
  };
}

/* A new secret's line under its key: prefix, expiry, description, and what `more` adds. */
function secretSummary(s, more) {
  return el('p', { class: 'muted', testid: 'secret-summary' },
    'Secret ', el('code', { text: s.secretPrefix + '\u2026' }),
    ' \u00b7 Expires: ', s.expiresOn ? fmtTime(s.expiresOn) : 'never',
    s.description ? [' \u00b7 Description: ', el('span', { text: s.description })] : null,
    more ? [' \u00b7 ', more] : null);
}

/* Rotate's grace periods: how long the current secrets keep working. */
var GRACES = [[0, 'At once'], [3600, 'In 1 hour'], [86400, 'In 24 hours'], [604800, 'In 7 days']];
var GRACE_DEFAULT = 86400;

/*
 * A token's Secrets dialog: who the token is, its secrets (oldest first) with Delete, and Add
 * secret and Rotate.  A revoked token's are shown only.  onToken(token) runs with the token
 * read again after each change (its row shows the new count and expiry); onClosed() when the
 * dialog goes.
 */
export function openSecretsDialog(t, onToken, onClosed) {
  var base = V1 + '/apiToken/' + encodeURIComponent(t.clientId);
  var active = t.status === 'Active';
  var secrets = [];
  var m = modal('Secrets of token ' + t.clientId, { wide: true, className: 'modal-secrets', testid: 'secrets-dialog',
    onClosed: onClosed });
  doneButton(m);
  var errBox = el('div', { hidden: true, testid: 'secrets-error' });
  var about = el('p', { class: 'lead', testid: 'token-about' });
  var notes = el('div', { testid: 'secret-notes' });
  var addBtn = el('button', { type: 'button', class: 'btn btn-primary btn-sm', testid: 'add-secret', disabled: true },
    icon('plus'), 'Add secret');
  var rotateBtn = el('button', { type: 'button', class: 'btn btn-sm', testid: 'rotate-secrets', text: 'Rotate\u2026', disabled: true });
  var loading = el('p', { class: 'loading', text: 'Loading secrets\u2026' });
  var tbody = el('tbody', { testid: 'secret-table-body' });
  var liveText = el('span', { testid: 'secret-live-count' });
  var table = el('div', { class: 'table-wrap', hidden: true },
    el('table', { class: 'data' },
      el('caption', { class: 'visually-hidden', text: 'Secrets of token ' + t.clientId + ', oldest first' }),
      el('thead', null, el('tr', null,
        el('th', { scope: 'col', text: 'Prefix' }),
        el('th', { scope: 'col', text: 'Description' }),
        el('th', { scope: 'col', text: 'Status' }),
        el('th', { scope: 'col', text: 'Created' }),
        el('th', { scope: 'col', text: 'Last used' }),
        el('th', { scope: 'col', text: 'Expires' }),
        el('th', { scope: 'col', class: 'actions' }, el('span', { class: 'visually-hidden', text: 'Delete' })))),
      tbody),
    el('div', { class: 'table-footer' }, liveText));
  append(m.body, [about, errBox,
    active ? el('div', { class: 'toolbar' }, addBtn, rotateBtn) : null,
    notes, loading, table]);
  drawAbout(t);

  function drawAbout(tok) {
    clear(about);
    append(about, ['Role ', el('strong', { text: tok.roleName }),
      tok.description ? [' \u00b7 ', el('span', { text: tok.description })] : null,
      ' \u00b7 The token itself ', tok.expiresOn ? 'expires ' + fmtTime(tok.expiresOn) : 'never expires',
      '. A program may exchange any of its live secrets; each stops when it expires or is deleted.']);
  }

  function live() {
    return secrets.filter(function (s) { return s.status === 'Active'; });
  }

  /* Reads the secrets again; after a change (changed) the token too, for its row. */
  function load(changed) {
    var reads = [api('GET', base + '/secret')];
    if (changed) reads.push(api('GET', base));
    return Promise.all(reads).then(function (r) {
      secrets = (r[0] && r[0].result) || [];
      if (r[1]) {
        t = r[1];
        drawAbout(t);
        onToken(t);
      }
      draw();
    }).catch(function (err) {
      showError(errBox, err, 'view this token\u2019s secrets', 'ManageSecurity');
    }).then(function () { loading.hidden = true; });
  }

  /* The one note over the table (id secret-note, which disabled buttons point to). */
  function note(testid, text) {
    return el('div', { class: 'alert alert-info', id: 'secret-note', testid: testid }, el('div', { class: 'alert-body', text: text }));
  }

  function draw() {
    var n = live().length;
    var full = n >= LIVE_MAX;
    clear(tbody);
    secrets.forEach(function (s) { tbody.appendChild(secretRow(s, n)); });
    table.hidden = false;
    liveText.textContent = plural(n, 'live secret', 'live secrets') + ' (at most ' + LIVE_MAX + ')' +
      (secrets.length > n ? ' \u00b7 ' + (secrets.length - n) + ' expired or revoked, kept for reference' : '');
    clear(notes);
    if (!active) {
      notes.appendChild(note('revoked-note', 'This token is revoked: none of its secrets works any more.'));
    } else if (full) {
      notes.appendChild(note('secret-limit-note', 'This token has ' + LIVE_MAX + ' live secrets, the most it may ' +
        'hold: delete one before you add or rotate.'));
    } else if (n === 0) {
      notes.appendChild(note('no-live-note', 'This token has no live secret: no program can use it until you ' +
        'add a secret or rotate.'));
    } else if (n === 1) {
      notes.appendChild(note('last-secret-note', 'This is the token\u2019s last live secret, so it can\u2019t be ' +
        'deleted: a token keeps at least one. Rotate to replace it, or revoke the token to stop it.'));
    }
    addBtn.disabled = rotateBtn.disabled = !active || full;
    [addBtn, rotateBtn].forEach(function (b) {
      if (full) b.setAttribute('aria-describedby', 'secret-note');
      else b.removeAttribute('aria-describedby');
    });
  }

  function secretRow(s, n) {
    var isLive = s.status === 'Active';
    var name = s.secretPrefix + '\u2026';
    var statusBadge = el('span', { class: 'badge ' + (isLive ? 'badge-active' : s.status === 'Revoked' ? 'badge-error' : 'badge-revoked'),
      testid: 'secret-status', text: s.status,
      title: s.status === 'Revoked' && s.revokedOn ? 'Revoked ' + fmtTime(s.revokedOn) : null });
    var actions = el('td', { class: 'actions' });
    if (active) {
      var last = isLive ? n <= 1 : secrets.length <= 1;
      var del = el('button', { type: 'button', class: 'btn btn-sm btn-danger', testid: 'delete-secret',
        'aria-label': 'Delete secret ' + name, text: 'Delete', disabled: last,
        title: last ? 'A token keeps at least one live secret' : null });
      if (last) del.setAttribute('aria-describedby', 'secret-note');
      del.addEventListener('click', function () { deleteSecret(s, del); });
      actions.appendChild(del);
    }
    return el('tr', { testid: 'secret-row', 'data-secret-id': s.secretId, 'data-status': s.status, class: isLive ? '' : 'is-revoked' },
      el('td', { class: 'id-cell', testid: 'secret-prefix', title: s.secretId },
        el('code', { text: name }),
        s.secretPrefix === 'kgs_' ? el('span', { class: 'faint', text: ' (older secret)',
          title: 'Made before keygate recorded the first characters of each secret' }) : null),
      el('td', { class: 'desc', testid: 'secret-description' },
        s.description ? s.description : el('span', { class: 'faint', text: 'No description' })),
      el('td', null, el('span', { class: 'badges' }, statusBadge,
        isLive && s.expiresOn ? expiryBadge(Date.parse(s.expiresOn)) : null)),
      timeCell(s.createdOn, '\u2014'),
      timeCell(s.lastUsedOn, 'never'),
      timeCell(s.expiresOn, 'never'),
      actions);
  }

  function deleteSecret(s, button) {
    var name = s.secretPrefix + '\u2026' + (s.description ? ' (\u201c' + s.description + '\u201d)' : '');
    var question = s.status === 'Active'
      ? 'Delete the secret ' + name + '?\n\nPrograms using it can no longer get access tokens, and the access ' +
        'tokens it was given stop at once. This cannot be undone.'
      : 'Delete the ' + s.status.toLowerCase() + ' secret ' + name + '?\n\nIt no longer works; this removes it from the list.';
    if (!window.confirm(question)) return;
    hideError(errBox);
    button.disabled = true;
    button.textContent = 'Deleting\u2026';
    api('DELETE', base + '/secret/' + encodeURIComponent(s.secretId)).then(function () {
      toast('Secret ' + s.secretPrefix + '\u2026 deleted.');
      return load(true);
    }).catch(function (err) {
      showError(errBox, err, 'delete secrets of API auth tokens', 'ManageSecurity');
      return load(true); /* show the secrets as they are now */
    });
  }

  function openAdd() {
    var f = newSecretFields();
    secretOnceDialog({
      title: 'Add secret',
      testid: 'add-secret-dialog',
      lead: 'The new secret works beside the token\u2019s other live secrets, with the same Client ID and ' +
        'role, until it expires or you delete it.',
      fields: f.nodes,
      focus: f.description,
      submitText: 'Create secret',
      submittingText: 'Creating\u2026',
      submitTestid: 'create-secret',
      submit: function () { return api('POST', base + '/secret', f.body()); },
      what: 'add secrets to API auth tokens',
      secretTitle: 'Save the new secret key',
      loseText: 'If you lose it, delete it and add another.',
      summary: function (s) { return secretSummary(s); },
      saveText: 'Save secret',
      saveTestid: 'save-secret',
      savedToast: 'Secret saved. It works now.',
      onSaved: function () { load(true); },
    });
  }

  function openRotate() {
    var f = newSecretFields();
    var current = live();
    var radios = GRACES.map(function (g) {
      return el('input', { type: 'radio', name: 'grace', id: 'grace-' + g[0], testid: 'grace-' + g[0],
        value: String(g[0]), checked: g[0] === GRACE_DEFAULT });
    });
    var effect = el('div', { class: 'alert-body', testid: 'rotate-effect', 'aria-live': 'polite' });
    var fieldset = el('fieldset', { class: 'choices' },
      el('legend', { text: 'The current secrets stop working' }),
      el('div', { class: 'choice-row' }, radios.map(function (r, i) {
        return el('label', { class: 'checkbox', for: r.id }, r, GRACES[i][1] + (GRACES[i][0] === GRACE_DEFAULT ? ' (default)' : ''));
      })));
    var grace = GRACE_DEFAULT;
    var until = 0; /* when the current secrets stop, as last said */

    function explain() {
      radios.forEach(function (r) { if (r.checked) grace = Number(r.value); });
      until = Date.now() + grace * 1000;
      var n = current.length;
      var them = n === 1 ? 'The current secret' : 'The ' + n + ' current secrets';
      var text;
      if (n === 0) {
        text = 'The token has no live secret now: the new one will be its only one.';
      } else if (grace === 0) {
        text = them + (n === 1 ? ' stops' : ' stop') + ' working at once; only the new one works from then on. ' +
          'Programs still using ' + (n === 1 ? 'it' : 'them') + ' are refused until they switch.';
      } else {
        var sooner = current.some(function (s) { return s.expiresOn && Date.parse(s.expiresOn) < until; });
        text = them + (n === 1 ? ' keeps' : ' keep') + ' working until ' + fmtTime(new Date(until).toISOString()) +
          (sooner ? ' at the latest' : '') + '; then only the new one does. Give your programs the new ' +
          'secret before then.';
      }
      effect.textContent = text;
    }
    fieldset.addEventListener('change', explain);
    explain();

    secretOnceDialog({
      title: 'Rotate secrets',
      testid: 'rotate-dialog',
      lead: 'Rotating adds a new secret and makes the current ones stop after a grace period, so that ' +
        'programs can move to the new secret without an outage.',
      fields: [fieldset, el('div', { class: 'alert alert-info' }, effect)].concat(f.nodes),
      focus: radios.filter(function (r) { return r.checked; })[0],
      submitText: 'Rotate',
      submittingText: 'Rotating\u2026',
      submitTestid: 'confirm-rotate',
      submit: function () {
        explain();
        var body = f.body();
        body.gracePeriodSeconds = grace;
        return api('POST', base + ':rotate', body);
      },
      what: 'rotate secrets of API auth tokens',
      secretTitle: 'Save the new secret key',
      loseText: 'If you lose it, add another secret and delete this one.',
      summary: function (s) {
        if (!current.length) return secretSummary(s);
        return secretSummary(s, grace === 0 ? 'The older secrets stopped working.'
          : 'The older secrets stop working ' + fmtTime(new Date(until).toISOString()) + '.');
      },
      saveText: 'Save secret',
      saveTestid: 'save-secret',
      savedToast: 'Secrets rotated. The new secret works now.',
      onSaved: function () { load(true); },
    });
  }

  addBtn.addEventListener('click', openAdd);
  rotateBtn.addEventListener('click', openRotate);
  load(false);
}
