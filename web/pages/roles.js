/*
 * roles.js — the Roles page (/roles): Create role, the list, and a role's dialog with its
 * privileges (Allow/Deny, with or without grant option) and the roles it grants.  Privileges
 * are granted and revoked with Galaxy's bodies, on this deployment's account (GET /account).
 */
import { api, hideError, listAll, refreshSession, showError, showMessage, V1 } from '../lib/api.js';
import { append, clear, el, icon, timeCell, toast } from '../lib/dom.js';
import { grantedRolesEditor } from '../lib/granted-roles.js';
import { doneButton, modal } from '../lib/modal.js';
import { listNotAllowed, pageHeader, permissionState } from '../lib/page.js';
import { has } from '../lib/session.js';

/* Offered as one types a privilege's name; any other name may be granted too. */
var KNOWN_PRIVILEGES = ['ManageSecurity', 'CreateRole', 'CreateUser', 'ViewAuditLog', 'Introspect'];

/* The account every privilege is on (Galaxy's entityKind Account), asked for once. */
var accountId = null;
function account() {
  if (accountId) return Promise.resolve(accountId);
  return api('GET', V1 + '/account').then(function (a) { accountId = a.accountId; return accountId; });
}

export function render(view) {
  document.title = 'Roles \u00b7 keygate';
  var intro = 'A role bundles privileges. Tokens and users act with their role, every role granted ' +
    'to it and public; a privilege is allowed when a role in that set allows it and none denies it.';
  var canList = has('ManageSecurity');
  var canCreate = has('CreateRole');
  if (!canList && !canCreate) {
    append(view, [pageHeader('Roles', intro),
      permissionState('You can\u2019t manage roles', 'ManageSecurity', 'view and change roles')]);
    return;
  }
  var alerts = el('div', { id: 'page-alerts', hidden: true });
  var createBtn = canCreate
    ? el('button', { type: 'button', class: 'btn btn-primary', testid: 'new-role' }, icon('plus'), 'Create role') : null;
  append(view, [pageHeader('Roles', intro, createBtn), alerts]);

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
  view.appendChild(createCard);
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
      showMessage(createErr, 'Enter a role name.');
      nameIn.focus();
      return;
    }
    createSubmit.disabled = true;
    api('POST', V1 + '/role', { roleName: name, roleDescription: descIn.value.trim(), grantToCreatingRole: true }).then(function (r) {
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
    view.appendChild(listNotAllowed('You can create roles, but you need the ManageSecurity privilege to ' +
      'list roles or change their privileges.'));
    return;
  }

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
  append(view, [loading, table]);

  function roleRow(r) {
    var granted = el('td', { testid: 'role-granted' });
    (r.directlyGrantedRoles || []).forEach(function (g) {
      granted.appendChild(el('span', { class: 'chip plain', text: g.roleName || g.roleId }));
    });
    if (!granted.firstChild) granted.appendChild(el('span', { class: 'faint', text: '\u2014' }));
    var manage = el('button', { type: 'button', class: 'btn btn-sm', testid: 'role-manage', text: 'Manage',
      'aria-label': 'Manage role ' + r.roleName });
    manage.addEventListener('click', function () { openRoleDialog(r, upsert); });
    return el('tr', { testid: 'role-row', 'data-role-name': r.roleName, 'data-role-id': r.roleId },
      el('td', null, el('strong', { text: r.roleName })),
      el('td', { class: 'desc', text: r.roleDescription || '' }),
      granted,
      timeCell(r.createdOn, '\u2014'),
      el('td', { class: 'actions' }, manage));
  }

  /* The role's row, new (at the top or the end) or redrawn in place. */
  function upsert(r, atTop) {
    var tr = roleRow(r);
    var old = rows[r.roleId];
    rows[r.roleId] = tr;
    if (old && old.parentNode) old.parentNode.replaceChild(tr, old);
    else if (atTop) tbody.insertBefore(tr, tbody.firstChild);
    else tbody.appendChild(tr);
    table.hidden = false;
  }

  listAll(V1 + '/role').then(function (list) {
    list.forEach(function (r) { upsert(r, false); });
  }).catch(function (err) {
    showError(alerts, err, 'view roles', 'ManageSecurity');
  }).then(function () { loading.hidden = true; });
}

/* A role's dialog: its privileges and its granted roles; onChanged(role) redraws its row. */
function openRoleDialog(r, onChanged) {
  var m = modal('Role: ' + r.roleName, { wide: true, testid: 'role-dialog' });
  var errBox = el('div', { hidden: true, testid: 'dialog-error' });
  doneButton(m);
  m.body.appendChild(errBox);
  if (r.roleDescription) m.body.appendChild(el('p', { class: 'lead', text: r.roleDescription }));
  if (r.roleName === 'accountadmin') {
    m.body.appendChild(el('div', { class: 'alert alert-info' }, el('div', { class: 'alert-body',
      text: 'accountadmin holds every privilege and every role. It cannot be changed.' })));
    return;
  }
  var privileges = privilegeEditor(r, errBox);
  append(m.body, [
    el('h3', { class: 'section-title', text: 'Privileges' }), privileges.nodes,
    el('h3', { class: 'section-title', text: 'Granted roles' }),
    el('p', { class: 'muted', text: 'Holders of ' + r.roleName + ' also act with these roles.' }),
    grantedRolesEditor({
      holder: r,
      holderName: r.roleName,
      url: V1 + '/role/' + encodeURIComponent(r.roleId),
      exclude: r.roleId,
      emptyText: 'No roles granted to this role.',
      ids: { list: 'granted-roles', chip: 'granted-role', select: 'grant-role-select', button: 'grant-role' },
      errBox: errBox,
      what: 'change this role',
      onSaved: onChanged,
    })]);
  privileges.load();
}

/* The role's privileges: a table with Revoke on each, and a form to grant one (Allow or
 * Deny, an Allow with or without grant option).  Returns {nodes, load}. */
function privilegeEditor(r, errBox) {
  var base = V1 + '/role/' + encodeURIComponent(r.roleId) + '/privilege';
  var privBody = el('tbody', { testid: 'privilege-table-body' });
  var privEmpty = el('p', { class: 'muted', text: 'No privileges granted to this role.', hidden: true });
  var privTable = el('div', { class: 'table-wrap', hidden: true },
    el('table', { class: 'data' },
      el('thead', null, el('tr', null, el('th', { text: 'Kind' }), el('th', { text: 'Privilege' }),
        el('th', { text: 'Grant option' }),
        el('th', { class: 'actions' }, el('span', { class: 'visually-hidden', text: 'Actions' })))),
      privBody));
  var kind = el('select', { class: 'input', id: 'privilege-kind', testid: 'privilege-kind' },
    el('option', { value: 'Allow', text: 'Allow' }), el('option', { value: 'Deny', text: 'Deny' }));
  var listId = 'privilege-names';
  var privName = el('input', { class: 'input', id: 'privilege-name', type: 'text', list: listId, autocomplete: 'off',
    placeholder: 'e.g. ManageSecurity', testid: 'privilege-name' });
  var datalist = el('datalist', { id: listId });
  KNOWN_PRIVILEGES.forEach(function (p) { datalist.appendChild(el('option', { value: p })); });
  var option = el('input', { type: 'checkbox', id: 'privilege-grant-option', testid: 'privilege-grant-option' });
  var optionLabel = el('label', { class: 'checkbox', for: 'privilege-grant-option',
    title: 'Whoever holds this role may grant the privilege on to other roles' }, option, 'With grant option');
  kind.addEventListener('change', function () {
    option.disabled = kind.value === 'Deny'; /* a Deny carries no grant option */
    if (option.disabled) option.checked = false;
  });
  var grantPriv = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'grant-privilege', text: 'Grant' });
  var privForm = el('form', { class: 'inline-form', novalidate: true },
    el('div', { class: 'field' }, el('label', { for: 'privilege-kind', text: 'Kind' }), kind),
    el('div', { class: 'field grow' }, el('label', { for: 'privilege-name', text: 'Privilege' }), privName, datalist),
    el('div', { class: 'field' }, optionLabel),
    el('div', { class: 'field' }, grantPriv));

  function privRow(p) {
    var rv = el('button', { type: 'button', class: 'btn btn-sm btn-danger', testid: 'revoke-privilege', text: 'Revoke',
      'aria-label': 'Revoke ' + p.grantKind + ' ' + p.privilege });
    rv.addEventListener('click', function () {
      hideError(errBox);
      rv.disabled = true;
      account()
        .then(function (id) {
          return api('POST', base + ':revoke',
            { entityKind: 'Account', entityId: id, privilege: p.privilege, revokeAction: 'RemoveRoleGrant' });
        })
        .then(function () { toast(p.grantKind + ' ' + p.privilege + ' revoked from ' + r.roleName + '.'); return load(); })
        .catch(function (err) { rv.disabled = false; showError(errBox, err, 'change privileges', 'ManageSecurity'); });
    });
    return el('tr', { testid: 'privilege-row', 'data-privilege': p.privilege, 'data-kind': p.grantKind,
      'data-grant-option': p.grantOption ? 'true' : 'false' },
      el('td', null, el('span', { class: 'chip plain ' + (p.grantKind === 'Deny' ? 'deny' : 'allow'), text: p.grantKind })),
      el('td', null, el('code', { text: p.privilege })),
      el('td', { class: 'muted', text: p.grantOption ? 'Yes' : '\u2014' }),
      el('td', { class: 'actions' }, rv));
  }

  function load() {
    return listAll(base).then(function (ps) {
      clear(privBody);
      ps.forEach(function (p) { privBody.appendChild(privRow(p)); });
      privEmpty.hidden = ps.length > 0;
      privTable.hidden = ps.length === 0;
    }).catch(function (err) { showError(errBox, err, 'view privileges', 'ManageSecurity'); });
  }

  privForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    hideError(errBox);
    var name = privName.value.trim();
    if (!name) {
      privName.focus();
      return;
    }
    grantPriv.disabled = true;
    var withOption = option.checked && kind.value === 'Allow';
    account()
      .then(function (id) {
        return api('POST', base + ':grant', { grantKind: kind.value, entityKind: 'Account', entityId: id,
          grantOption: withOption, privilege: name });
      })
      .then(function () {
        privName.value = '';
        option.checked = false;
        toast(kind.value + ' ' + name + (withOption ? ' with grant option' : '') + ' granted to ' + r.roleName + '.');
        return load();
      })
      .catch(function (err) { showError(errBox, err, 'change privileges', 'ManageSecurity'); })
      .then(function () { grantPriv.disabled = false; });
  });

  return { nodes: [privEmpty, privTable, el('div', { class: 'card card-pad' }, privForm)], load: load };
}
