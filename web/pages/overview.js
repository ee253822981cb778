/*
 * overview.js — the Overview page (/overview): the deployment's usage over a range (totals
 * of every token) and two lists, the busiest tokens and the most refused, each row with a
 * sparkline of the range and a link to the token's own page.
 */
import { api, hideError, showError, V1 } from '../lib/api.js';
import { fmtNum, sparkline } from '../lib/chart.js';
import { append, clear, el } from '../lib/dom.js';
import { pageHeader, permissionState } from '../lib/page.js';
import { has } from '../lib/session.js';
import { allowedOf, rangeOf, rangePicker, rangeQuery, totalsRow } from '../lib/usage.js';
import { detailHref } from './tokens.js';

var TOP = 10;

export function render(view) {
  document.title = 'Overview \u00b7 keygate';
  var intro = 'How the deployment\u2019s API auth tokens are used: every exchange, gate check and API call, ' +
    'and what was refused.';
  if (!has('ManageSecurity')) {
    append(view, [pageHeader('Overview', intro),
      permissionState('You can\u2019t see the usage of API auth tokens', 'ManageSecurity', 'see how tokens are used')]);
    return;
  }
  var params = new URLSearchParams(window.location.search);
  var range = rangeOf(params.get('range')) || rangeOf('7d');
  var picker = rangePicker(range.key, function (r) {
    range = r;
    window.history.replaceState(null, '', window.location.pathname + '?range=' + r.key);
    load();
  });
  var alerts = el('div', { hidden: true, testid: 'page-alerts' });
  var totalsBox = el('div', { testid: 'overview-totals-box' }, el('p', { class: 'loading', text: 'Loading usage\u2026' }));
  var busiest = topList('busiest', 'Busiest tokens', 'The tokens with the most requests, allowed or refused.');
  var refused = topList('most-refused', 'Most refused tokens', 'The tokens refused most often: a wrong privilege, ' +
    'past their rate limit, from an address not allowed, or expired.');
  append(view, [pageHeader('Overview', intro, picker.node), alerts,
    el('section', { class: 'card card-pad', 'aria-labelledby': 'totals-h' },
      el('h2', { id: 'totals-h', text: 'All tokens' }), totalsBox),
    el('div', { class: 'overview-grid' }, busiest.node, refused.node)]);

  var generation = 0;
  function load() {
    var mine = ++generation;
    hideError(alerts);
    /* A sparkline by the day but for the last 24 hours: 7 days of hours is too fine for it. */
    var q = rangeQuery(range, range.key === '24h' ? 'hour' : 'day') + '&limit=' + TOP;
    Promise.all([api('GET', V1 + '/usage?orderBy=requests&' + q), api('GET', V1 + '/usage?orderBy=refused&' + q)])
      .then(function (r) {
        if (mine !== generation) return;
        clear(totalsBox);
        totalsBox.appendChild(totalsRow(r[0].totals || {}));
        busiest.fill(r[0].result || [], r[0].granularity || range.granularity, 'requests');
        refused.fill(r[1].result || [], r[1].granularity || range.granularity, 'refused');
      }).catch(function (err) {
        if (mine !== generation) return;
        showError(alerts, err, 'see the usage of API auth tokens', 'ManageSecurity');
      });
  }
  load();

  function topList(testid, title, text) {
    var tbody = el('tbody', { testid: testid + '-body' });
    var empty = el('p', { class: 'muted empty-line', testid: testid + '-empty', hidden: true });
    var table = el('div', { class: 'table-wrap', hidden: true },
      el('table', { class: 'data' },
        el('thead', null, el('tr', null,
          el('th', { scope: 'col', text: 'Token' }),
          el('th', { scope: 'col', class: 'num', text: 'Requests' }),
          el('th', { scope: 'col', class: 'num', text: 'Refused' }),
          el('th', { scope: 'col', text: 'Trend' }))),
        tbody));
    var node = el('section', { class: 'card card-pad', 'aria-labelledby': testid + '-h', testid: testid },
      el('h2', { id: testid + '-h', text: title }), el('p', { class: 'muted', text: text }), empty, table);
    function fill(rows, granularity, what) {
      clear(tbody);
      rows.forEach(function (r, i) {
        tbody.appendChild(el('tr', { testid: 'top-row', 'data-client-id': r.clientId, 'data-rank': String(i + 1),
          class: r.status === 'Active' ? '' : 'is-revoked' },
          el('td', { class: 'top-token' },
            el('a', { class: 'mono', href: detailHref(r.clientId), testid: 'top-link', text: r.clientId }),
            el('span', { class: 'top-desc', text: (r.description || 'No description') + ' \u00b7 ' + r.roleName +
              (r.status === 'Active' ? '' : ' \u00b7 ' + r.status) })),
          el('td', { class: 'num', testid: 'top-requests', text: fmtNum(r.requests),
            title: fmtNum(allowedOf(r)) + ' allowed' }),
          el('td', { class: 'num', testid: 'top-refused', text: fmtNum(r.refused) }),
          el('td', { class: 'spark-cell' }, sparkline(r.series || [], { label: 'Last ' + range.label, granularity: granularity, width: 90 }))));
      });
      table.hidden = rows.length === 0;
      empty.hidden = rows.length > 0;
      empty.textContent = what === 'refused' ? 'No token was refused in the last ' + range.label + '.'
        : 'No token was used in the last ' + range.label + '.';
    }
    return { node: node, fill: fill };
  }
}
