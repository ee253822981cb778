/*
 * page.js — the parts every page has: its header, the message shown instead of it when a
 * privilege is missing, and a drop-down of roles.
 */
import { clear, el, icon } from './dom.js';
import { roleNames } from './session.js';

export function pageHeader(title, text, action) {
  return el('div', { class: 'page-header' },
    el('div', null, el('h1', { text: title, testid: 'page-title' }), text ? el('p', { text: text }) : null),
    action || null);
}

/* "You need the <privilege> privilege to <doing>", naming the active roles that lack it. */
export function permissionState(heading, privilege, doing) {
  var roles = roleNames();
  return el('div', { class: 'empty-state permission-state', testid: 'permission-message', role: 'status' },
    el('div', { class: 'empty-icon' }, icon('lock')),
    el('h2', { text: heading }),
    el('p', null,
      'You need the ', el('code', { text: privilege }), ' privilege to ' + doing + '. ',
      roles.length ? 'None of your active roles (' + roles.join(', ') + ') grants it. ' : '',
      'Ask an account administrator to grant ', el('code', { text: privilege }), ' to one of your roles.'));
}

/* The form of a page that can create but not list: it says what else it would need. */
export function listNotAllowed(text) {
  return el('div', { class: 'alert alert-info', testid: 'permission-message' },
    el('div', { class: 'alert-body' }, text));
}

export function roleOptions(select, roles, placeholder) {
  clear(select);
  if (placeholder) select.appendChild(el('option', { value: '', text: placeholder, disabled: true, selected: true }));
  roles.forEach(function (r) {
    select.appendChild(el('option', { value: r.roleId, text: r.roleName }));
  });
}
