/*
 * tokens.js — the API auth token page (/api-auth-token): the list with Load more, Revoke,
 * and the two-step Generate dialog that shows the secret key once.
 */
import { api, hideError, showError, showMessage, V1 } from '../lib/api.js';
import { copyRow } from '../lib/copy.js';
import { append, clear, el, fmtTime, icon, timeCell, toast } from '../lib/dom.js';
import { modal } from '../lib/modal.js';
import { pageHeader, permissionState, roleOptions } from '../lib/page.js';
import { pager } from '../lib/paging.js';
import { has, session } from '../lib/session.js';

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
  var count = 0;
  var alerts = el('div', { id: 'page-alerts', hidden: true });
  var generateBtn = el('button', { type: 'button', class: 'btn btn-primary', testid: 'generate-token' }, icon('plus'), 'Generate new token');
  var tbody = el('tbody', { testid: 'token-table-body' });
  var countText = el('span', { testid: 'token-count' });
  var loading = el('p', { class: 'loading', text: 'Loading tokens\u2026' });
  var list = pager({
    base: V1 + '/apiToken',
    testid: 'load-more',
    onRows: function (ts) { ts.forEach(function (t) { addRow(t, false); }); },
    onError: function (err) { showError(alerts, err, 'view API auth tokens', 'ManageSecurity'); },
    onDone: function () {
      loading.hidden = true;
      refreshChrome();
    },
  });
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

  function openGenerate() {
    hideError(alerts);
    openGenerateDialog(function (t) {
      addRow(t, true);
      refreshChrome();
    });
  }

  generateBtn.addEventListener('click', openGenerate);
  emptyGenerate.addEventListener('click', openGenerate);
  list.load(true);
}

function stepper(current) {
  function step(n, label) {
    var cls = 'step' + (n === current ? ' current' : n < current ? ' done' : '');
    return el('span', { class: cls }, el('span', { class: 'step-num', text: n < current ? '\u2713' : String(n) }), label);
  }
  return el('div', { class: 'stepper', 'aria-label': 'Step ' + current + ' of 2' },
    step(1, 'Details'), el('span', { class: 'sep' }), step(2, 'Secret key'));
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
      showMessage(errorBox, 'Choose a role for the token.');
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
