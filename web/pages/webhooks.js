/*
 * webhooks.js — the Webhooks page (/webhooks): each webhook `keygate serve --webhook` names,
 * with its deliveries, failures and pending events, the event being retried and its newest
 * failures (GET /public/api/v1/webhook), refreshed every REFRESH_MS while the page is shown.
 * Needs ViewAuditLog: a webhook receives every audit event.
 */
import { api, hideError, showError, V1 } from '../lib/api.js';
import { append, clear, el, icon, timeCell } from '../lib/dom.js';
import { pageHeader, permissionState } from '../lib/page.js';
import { has } from '../lib/session.js';

var REFRESH_MS = 5000;

function count(n, one, many) {
  return n + ' ' + (n === 1 ? one : many);
}

/* Healthy, Retrying (an event failed and waits for its next attempt) or Failing (events given
 * up, the last attempt failed too). */
function health(w) {
  if (w.attempts > 0) return { text: 'Retrying', cls: 'badge-warn' };
  if (w.lastError) return { text: 'Failing', cls: 'badge-error' };
  if (w.lastAttemptOn) return { text: 'Delivering', cls: 'badge-active' };
  return { text: 'Waiting for events', cls: 'badge-revoked' };
}

function stat(label, value, testid) {
  return el('div', { class: 'webhook-stat' },
    el('div', { class: 'muted webhook-stat-label', text: label }),
    el('div', { class: 'webhook-stat-value', testid: testid, text: String(value) }));
}

function status(s) {
  return s === null || s === undefined ? 'no answer' : 'HTTP ' + s;
}

function failureRow(f) {
  var when = timeCell(f.failedOn, '\u2014', true);
  return el('tr', { testid: 'webhook-failure-row', 'data-event': f.eventId },
    el('td', { class: 'id-cell', text: f.eventId }),
    el('td', { class: 'nowrap' }, el('code', { text: f.type })),
    el('td', { text: String(f.attempts) }),
    el('td', { class: 'nowrap', text: status(f.lastStatus) }),
    el('td', { class: 'desc', text: f.error }),
    when);
}

function card(w) {
  var h = health(w);
  var last = w.lastAttemptOn
    ? el('p', { class: 'muted', testid: 'webhook-last' }, 'Last attempt: ',
      el('time', { datetime: w.lastAttemptOn, text: new Date(w.lastAttemptOn).toLocaleString() }),
      ', ' + status(w.lastStatus) + (w.lastError && w.lastStatus === null ? ' \u2014 ' + w.lastError : '') +
      (w.nextAttemptOn ? '. Attempt ' + (w.attempts + 1) + ' at ' + new Date(w.nextAttemptOn).toLocaleTimeString() + '.' : '.'))
    : el('p', { class: 'muted', testid: 'webhook-last', text: 'No attempt yet: events are sent as they happen.' });
  var failures = w.failures.length
    ? el('div', { class: 'table-wrap webhook-failures' },
      el('table', { class: 'data' },
        el('caption', { class: 'visually-hidden', text: 'Events given up, newest first' }),
        el('thead', null, el('tr', null,
          el('th', { scope: 'col', text: 'Event' }), el('th', { scope: 'col', text: 'Type' }),
          el('th', { scope: 'col', text: 'Attempts' }), el('th', { scope: 'col', text: 'Last answer' }),
          el('th', { scope: 'col', text: 'Error' }), el('th', { scope: 'col', text: 'Given up' }))),
        el('tbody', null, w.failures.map(failureRow))))
    : el('p', { class: 'faint', testid: 'webhook-no-failures', text: 'No event given up.' });
  return el('section', { class: 'card card-pad', testid: 'webhook-card', 'data-id': w.id, 'aria-label': 'Webhook ' + w.url },
    el('div', { class: 'webhook-head' },
      el('h2', { class: 'id-cell', testid: 'webhook-url', text: w.url }),
      el('span', { class: 'badge ' + h.cls, testid: 'webhook-health', text: h.text })),
    el('p', { class: 'faint id-cell webhook-id', text: w.id }),
    el('div', { class: 'webhook-stats' },
      stat('Delivered', w.delivered, 'webhook-delivered'),
      stat('Failed', w.failed, 'webhook-failed'),
      stat('Pending', w.pending, 'webhook-pending')),
    last,
    el('h3', { class: 'webhook-failures-title', text: 'Recent failures' }),
    failures);
}

/* The page's stylesheet, once (the pane's CSP allows only stylesheets of its own origin). */
function linkStyles() {
  if (document.getElementById('webhooks-css')) return;
  document.head.appendChild(el('link', { id: 'webhooks-css', rel: 'stylesheet', href: '/assets/pages/webhooks.css' }));
}

export function render(view) {
  document.title = 'Webhooks \u00b7 keygate';
  linkStyles();
  var intro = 'Every audit event is POSTed, signed, to each URL that keygate serve --webhook names. ' +
    'Counts since each webhook was first configured.';
  if (!has('ViewAuditLog')) {
    append(view, [pageHeader('Webhooks', intro),
      permissionState('You can\u2019t view the webhooks', 'ViewAuditLog', 'view the webhooks')]);
    return;
  }
  var alerts = el('div', { id: 'page-alerts', hidden: true });
  var list = el('div', { testid: 'webhook-list', 'aria-live': 'polite' },
    el('p', { class: 'loading', text: 'Loading webhooks\u2026' }));
  var updated = el('p', { class: 'faint webhooks-updated', testid: 'webhooks-updated' });
  append(view, [pageHeader('Webhooks', intro), alerts, list, updated]);

  function draw(ws) {
    clear(list);
    if (!ws.length) {
      list.appendChild(el('div', { class: 'card empty-state', testid: 'webhooks-empty', role: 'status' },
        el('div', { class: 'empty-icon' }, icon('log')),
        el('h2', { text: 'No webhooks configured' }),
        el('p', null, 'Start keygate with ', el('code', { text: "--webhook 'URL secret-file=PATH'" }),
          ' to have every audit event sent to URL, signed with the secret in PATH.')));
    } else {
      ws.forEach(function (w) { list.appendChild(card(w)); });
    }
    updated.textContent = count(ws.length, 'webhook', 'webhooks') + '; updated ' + new Date().toLocaleTimeString() + '.';
  }

  var timer = null;
  function load() {
    api('GET', V1 + '/webhook').then(function (body) {
      hideError(alerts);
      draw(body.result || []);
    }, function (err) {
      showError(alerts, err, 'view the webhooks', 'ViewAuditLog');
    }).then(function () {
      if (view.isConnected && !document.hidden) timer = setTimeout(load, REFRESH_MS);
      else timer = null;
    });
  }
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && timer === null && view.isConnected) load();
  });
  load();
}
