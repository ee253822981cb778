/*
 * users.js — the Users page (/users): Create user (its generated password shown once), the
 * list with Load more, and a user's dialog with the roles granted to them.
 */
import { api, hideError, showError, showMessage, V1 } from '../lib/api.js';
import { copyRow } from '../lib/copy.js';
import { append, clear, el, icon, timeCell } from '../lib/dom.js';
import { grantedRolesEditor } from '../lib/granted-roles.js';
import { doneButton, modal } from '../lib/modal.js';
import { listNotAllowed, pageHeader, permissionState, roleOptions } from '../lib/page.js';
import { pager } from '../lib/paging.js';
import { has, session } from '../lib/session.js';

export function render(view) {
  document.title = 'Users \u00b7 keygate';
  var intro = 'People who can sign in to this pane. Each acts with the roles granted to them.';
  var canList = has('ManageSecurity');
  var canCreate = has('CreateUser');
  if (!canList && !canCreate) {
    append(view, [pageHeader('Users', intro),
      permissionState('You can\u2019t manage users', 'ManageSecurity', 'view and change users')]);
    return;
  }
  var alerts = el('div', { id: 'page-alerts', hidden: true });
  var createBtn = canCreate
    ? el('button', { type: 'button', class: 'btn btn-primary', testid: 'new-user' }, icon('plus'), 'Create user') : null;
  append(view, [pageHeader('Users', intro, createBtn), alerts]);

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
  append(view, [createCard, oneTime]);

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
      showMessage(createErr, msg);
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
    view.appendChild(listNotAllowed('You can create users, but you need the ManageSecurity privilege to ' +
      'list users or change their roles.'));
    return;
  }

  var rows = {};
  var tbody = el('tbody', { testid: 'user-table-body' });
  var loading = el('p', { class: 'loading', text: 'Loading users\u2026' });
  var countText = el('span');
  var list = pager({
    base: V1 + '/user',
    testid: 'load-more-users',
    onRows: function (us) { us.forEach(function (u) { if (!rows[u.userId]) upsert(u, false); }); },
    onError: function (err) { showError(alerts, err, 'view users', 'ManageSecurity'); },
    onDone: function () { loading.hidden = true; },
  });
  var table = el('div', { class: 'table-wrap', hidden: true },
    el('table', { class: 'data' },
      el('thead', null, el('tr', null,
        el('th', { scope: 'col', text: 'Email' }),
        el('th', { scope: 'col', text: 'Roles' }),
        el('th', { scope: 'col', text: 'Created' }),
        el('th', { scope: 'col', class: 'actions' }, el('span', { class: 'visually-hidden', text: 'Actions' })))),
      tbody),
    el('div', { class: 'table-footer' }, countText, list.button));
  append(view, [loading, table]);

  function userRow(u) {
    var rolesTd = el('td', { testid: 'user-roles-cell' });
    (u.directlyGrantedRoles || []).forEach(function (g) {
      rolesTd.appendChild(el('span', { class: 'chip plain', testid: 'user-role', text: g.roleName || g.roleId }));
    });
    if (!rolesTd.firstChild) rolesTd.appendChild(el('span', { class: 'faint', text: 'public only' }));
    var manage = el('button', { type: 'button', class: 'btn btn-sm', testid: 'user-manage', text: 'Manage roles',
      'aria-label': 'Manage roles of ' + u.email });
    manage.addEventListener('click', function () { openUserDialog(u, upsert); });
    var me = session && u.userId === session.userId;
    return el('tr', { testid: 'user-row', 'data-email': u.email, 'data-user-id': u.userId },
      el('td', null, el('strong', { text: u.email }), me ? el('span', { class: 'muted', text: ' (you)' }) : null),
      rolesTd,
      timeCell(u.createdOn, '\u2014'),
      el('td', { class: 'actions' }, manage));
  }

  /* The user's row, new (at the top or the end) or redrawn in place. */
  function upsert(u, atTop) {
    var tr = userRow(u);
    var old = rows[u.userId];
    rows[u.userId] = tr;
    if (old && old.parentNode) old.parentNode.replaceChild(tr, old);
    else if (atTop) tbody.insertBefore(tr, tbody.firstChild);
    else tbody.appendChild(tr);
    table.hidden = false;
    var n = Object.keys(rows).length;
    countText.textContent = n + (n === 1 ? ' user' : ' users') + (list.more() ? ' shown' : '');
  }

  list.load(true);
}

/* A user's dialog: the roles granted to them; onChanged(user) redraws their row. */
function openUserDialog(u, onChanged) {
  var m = modal('Roles of ' + u.email, { testid: 'user-dialog' });
  var errBox = el('div', { hidden: true, testid: 'dialog-error' });
  doneButton(m);
  append(m.body, [errBox, el('p', { class: 'lead', text: 'The user acts with these roles, every role granted to them, and public.' }),
    grantedRolesEditor({
      holder: u,
      holderName: u.email,
      url: V1 + '/user/' + encodeURIComponent(u.userId),
      emptyText: 'No roles granted: this user has only public.',
      ids: { list: 'user-granted-roles', chip: 'user-granted-role', select: 'user-grant-select', button: 'user-grant-role' },
      errBox: errBox,
      what: 'change this user\u2019s roles',
      onSaved: onChanged,
    })]);
}
