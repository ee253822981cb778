/*
 * usage.js — what the usage pages share: the ranges a person picks (24 hours to 90 days, by
 * the hour up to 7 days and by the day beyond), their picker, the totals of a range in
 * words, and the "last 7 days" span of the token list's sparklines.
 */
import { count, fmtNum, SERIES } from './chart.js';
import { el } from './dom.js';

var HOUR_MS = 3600000;
var DAY_MS = 86400000;

export var RANGES = [
  { key: '24h', label: '24 hours', ms: DAY_MS, granularity: 'hour' },
  { key: '7d', label: '7 days', ms: 7 * DAY_MS, granularity: 'hour' },
  { key: '30d', label: '30 days', ms: 30 * DAY_MS, granularity: 'day' },
  { key: '90d', label: '90 days', ms: 90 * DAY_MS, granularity: 'day' },
];

export function rangeOf(key) {
  return RANGES.filter(function (r) { return r.key === key; })[0] || null;
}

/* The query of a range ending now: since=…&granularity=… (the range's own, or `granularity`). */
export function rangeQuery(range, granularity) {
  var since = new Date(Date.now() - range.ms);
  /* Whole buckets: from the start of the hour (or UTC day) after the one the range begins in. */
  var unit = range.granularity === 'day' ? DAY_MS : HOUR_MS;
  since = new Date(Math.floor(since.getTime() / unit) * unit + unit);
  return 'since=' + encodeURIComponent(since.toISOString()) + '&granularity=' + (granularity || range.granularity);
}

/* The token list's sparklines: the last 7 UTC days, today included. */
export function lastSevenDaysSince() {
  var today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  return new Date(today - 6 * DAY_MS).toISOString();
}

/*
 * A row of buttons, one a range, the chosen one pressed; onPick(range) when another is
 * chosen.  Returns {node, set(key)}.
 */
export function rangePicker(current, onPick) {
  var buttons = RANGES.map(function (r) {
    var b = el('button', { type: 'button', class: 'seg-btn', testid: 'range-' + r.key, 'data-range': r.key, text: r.label });
    b.addEventListener('click', function () {
      if (b.getAttribute('aria-pressed') === 'true') return;
      set(r.key);
      onPick(r);
    });
    return b;
  });
  function set(key) {
    buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b.getAttribute('data-range') === key)); });
  }
  set(current);
  return { node: el('div', { class: 'segmented', role: 'group', 'aria-label': 'Range', testid: 'range-picker' }, buttons), set: set };
}

/* The allowed count of a usage record (exchanges + gate allows + API calls). */
export function allowedOf(rec) {
  return count(rec, 'allowed');
}

/*
 * The totals of a range as a row of figures: requests, allowed (exchanges, gate allows, API
 * calls), refused (by reason).  Each figure has data-testid total-<name>.
 */
export function totalsRow(t) {
  function figure(name, label, value, parts) {
    return el('div', { class: 'figure', testid: 'total-' + name, 'data-value': String(value) },
      el('span', { class: 'figure-label', text: label }),
      el('span', { class: 'figure-value', text: fmtNum(value) }),
      parts ? el('span', { class: 'figure-parts', text: parts }) : null);
  }
  var allowed = allowedOf(t);
  var refusedParts = SERIES.slice(1).map(function (s) {
    return s.label.replace('Refused: ', '') + ' ' + fmtNum(t[s.key]);
  }).join(' \u00b7 ');
  return el('div', { class: 'figures', testid: 'usage-totals' },
    figure('requests', 'Requests', t.requests || 0, null),
    figure('allowed', 'Allowed', allowed, 'Exchanges ' + fmtNum(t.exchanges) + ' \u00b7 Gate ' + fmtNum(t.gateAllowed) +
      ' \u00b7 API calls ' + fmtNum(t.apiCalls)),
    figure('refused', 'Refused', t.refused || 0, refusedParts));
}
