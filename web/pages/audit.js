/*
 * audit.js — the Audit log page (/audit-log): filters by actor and time (kept in the address
 * bar as ?actor=&since=&until=), the entries newest first with Load more.
 */
import { hideError, showError, showMessage, V1 } from '../lib/api.js';
import { append, clear, el, icon, timeCell } from '../lib/dom.js';
import { pageHeader, permissionState } from '../lib/page.js';
import { pager } from '../lib/paging.js';
import { has, path, session } from '../lib/session.js';

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

function textOrDash(td, text) {
  if (text) td.textContent = text;
  else td.appendChild(el('span', { class: 'faint', text: '\u2014' }));
  return td;
}

export function render(view) {
  document.title = 'Audit log \u00b7 keygate';
  var intro = 'Who did what in keygate, newest first: changes to API auth tokens, roles, privileges and users, and sign-ins.';
  if (!has('ViewAuditLog')) {
    append(view, [pageHeader('Audit log', intro),
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

  var filters = { actor: '', since: '', until: '' };
  var count = 0;
  var failed = false;

  var alerts = el('div', { id: 'page-alerts', hidden: true });
  var loading = el('p', { class: 'loading', testid: 'audit-loading', text: 'Loading audit log\u2026' });
  var emptyTitle = el('h2');
  var emptyText = el('p');
  var empty = el('div', { class: 'card empty-state', testid: 'audit-empty', role: 'status', hidden: true },
    el('div', { class: 'empty-icon' }, icon('log')), emptyTitle, emptyText);
  var tbody = el('tbody', { testid: 'audit-table-body' });
  var countText = el('span', { testid: 'audit-count' });
  var list = pager({
    base: V1 + '/auditLog',
    testid: 'load-more-audit',
    query: function () {
      var q = [];
      if (filters.actor) q.push('actor=' + encodeURIComponent(filters.actor));
      if (filters.since) q.push('since=' + encodeURIComponent(filters.since));
      if (filters.until) q.push('until=' + encodeURIComponent(filters.until));
      return q;
    },
    /* fresh: start again from the newest entry (new filters). */
    onStart: function (fresh) {
      if (fresh) {
        count = 0;
        clear(tbody);
        table.hidden = true;
        empty.hidden = true;
        loading.hidden = false;
      }
      failed = false;
      hideError(alerts);
      table.setAttribute('aria-busy', 'true');
    },
    onRows: function (entries) {
      entries.forEach(function (e) {
        tbody.appendChild(auditRow(e));
        count += 1;
      });
    },
    onError: function (err) {
      failed = true;
      showError(alerts, err, 'view the audit log', 'ViewAuditLog');
    },
    onDone: function () {
      loading.hidden = true;
      table.removeAttribute('aria-busy');
      refreshChrome();
    },
  });
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
    el('div', { class: 'table-footer' }, countText, list.button));

  append(view, [pageHeader('Audit log', intro), form, alerts, loading, empty, table]);

  function filtered() {
    return !!(filters.actor || filters.since || filters.until);
  }

  function refreshChrome() {
    empty.hidden = count > 0 || failed;
    table.hidden = count === 0;
    countText.textContent = (count === 1 ? '1 entry' : count + ' entries') + (list.more() ? ' shown' : '');
    if (filtered()) {
      emptyTitle.textContent = 'No entries match these filters';
      emptyText.textContent = 'Try another actor or a wider time range, or clear the filters.';
    } else {
      emptyTitle.textContent = 'No audit log entries yet';
      emptyText.textContent = 'Changes to API auth tokens, roles, privileges and users, and sign-ins, are listed here as they happen.';
    }
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

  function filterError(text, input) {
    showMessage(filterErr, text);
    input.focus();
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
    list.load(true);
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

  if (!readFilters()) filters = { actor: actorIn.value.trim(), since: '', until: '' };
  remember();
  list.load(true);
}
