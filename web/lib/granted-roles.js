/*
 * granted-roles.js — the granted-roles editor, for a role (the roles its holders also act
 * with) and for a user (the roles they hold): the granted roles as chips, each with × to
 * remove it, and a drop-down of the caller's active roles to grant one more.  Every change
 * PATCHes the holder's directlyGrantedRoles with the whole new list and the syncToken it was
 * drawn from: when the holder changed elsewhere meanwhile (409), nothing is overwritten, the
 * holder is read again and redrawn, and the error says so.
 */
import { api, hideError, showError } from './api.js';
import { clear, el, toast } from './dom.js';
import { roleOptions } from './page.js';
import { session } from './session.js';

/*
 * opts.holder: the role or user as the API gave it (directlyGrantedRoles); opts.holderName:
 * its name in messages; opts.url: where to PATCH it; opts.exclude: a roleId never offered
 * (the role itself); opts.emptyText: shown when it holds none; opts.ids: {list, chip,
 * select, button}, the data-testids (and the select's id); opts.errBox: where errors go;
 * opts.what: completes "You don't have permission to …"; opts.onSaved(updated) after each
 * change.  Returns the nodes to place in the page: the chips, then the grant form.
 */
export function grantedRolesEditor(opts) {
  var holder = opts.holder;
  var ids = opts.ids;
  var chips = el('div', { testid: ids.list });
  var sel = el('select', { class: 'input', id: ids.select, testid: ids.select });
  var grantBtn = el('button', { type: 'submit', class: 'btn btn-primary', testid: ids.button, text: 'Grant role' });
  var form = el('form', { class: 'inline-form', novalidate: true },
    el('div', { class: 'field grow' }, el('label', { for: ids.select, text: 'Role to grant' }), sel),
    el('div', { class: 'field' }, grantBtn));

  function draw() {
    clear(chips);
    var granted = holder.directlyGrantedRoles || [];
    granted.forEach(function (g) {
      var name = g.roleName || g.roleId;
      var x = el('button', { type: 'button', class: 'chip-x', 'aria-label': 'Remove ' + name + ' from ' + opts.holderName, text: '\u00d7' });
      x.addEventListener('click', function () {
        if (!window.confirm('Remove the role ' + name + ' from ' + opts.holderName + '?')) return;
        save(granted.filter(function (o) { return o.roleId !== g.roleId; }), 'Removed ' + name + '.');
      });
      chips.appendChild(el('span', { class: 'chip', testid: ids.chip, 'data-role-name': g.roleName || '' }, name, x));
    });
    if (!granted.length) chips.appendChild(el('p', { class: 'muted', text: opts.emptyText }));
    var have = {};
    granted.forEach(function (g) { have[g.roleId] = true; });
    var choices = (session.activeRoles || []).filter(function (o) {
      return o.roleId !== opts.exclude && !have[o.roleId] && o.roleName !== 'public';
    });
    roleOptions(sel, choices, choices.length ? 'Select a role\u2026' : 'No other roles to grant');
    sel.disabled = grantBtn.disabled = choices.length === 0;
  }

  function redraw(updated) {
    holder = updated;
    opts.onSaved(updated);
    draw();
  }

  function save(list, message) {
    hideError(opts.errBox);
    var body = { directlyGrantedRoles: list.map(function (g) { return { roleId: g.roleId }; }) };
    if (holder.syncToken) body.syncToken = holder.syncToken;
    return api('PATCH', opts.url, body)
      .then(function (updated) {
        redraw(updated);
        toast(message);
      })
      .catch(function (err) {
        showError(opts.errBox, err, opts.what, 'ManageSecurity');
        draw();
        if (err && err.status === 409) { /* changed elsewhere: show it as it is now */
          return api('GET', opts.url).then(redraw, function () { /* the error says enough */ });
        }
      });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!sel.value) return;
    var name = sel.options[sel.selectedIndex].text;
    save((holder.directlyGrantedRoles || []).concat([{ roleId: sel.value }]), name + ' granted to ' + opts.holderName + '.');
  });

  draw();
  return [chips, el('div', { class: 'card card-pad' }, form)];
}
