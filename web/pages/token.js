/*
 * token.js — one API auth token's page (/api-auth-token/{clientId}): its fields, its usage
 * over a range (a stacked chart of allowed and refused requests, with totals), its usage
 * controls (rate limit and allowed address ranges, saved with PATCH) and its Secrets dialog.
 *
 * A page rather than a dialog: the chart wants the width, the Overview links here, and the
 * address (?range=) can be kept or shared.
 */
import { api, hideError, showError, V1 } from '../lib/api.js';
import { stackedChart } from '../lib/chart.js';
import { append, clear, el, fmtTime, toast } from '../lib/dom.js';
import { pageHeader, permissionState } from '../lib/page.js';
import { has } from '../lib/session.js';
import { rangeOf, rangePicker, rangeQuery, totalsRow } from '../lib/usage.js';
import { openSecretsDialog } from './tokens.js';

var CIDRS_MAX = 16;
var UNITS = [[86400, 'days'], [3600, 'hours'], [60, 'minutes'], [1, 'seconds']];

/* "100 requests per 60 seconds" in the largest whole unit ("per minute"). */
export function limitText(rl) {
  if (!rl) return 'Deployment default';
  var u = UNITS.filter(function (x) { return rl.periodSeconds % x[0] === 0; })[0];
  var n = rl.periodSeconds / u[0];
  var unit = n === 1 ? u[1].slice(0, -1) : n + ' ' + u[1];
  return rl.requests + (rl.requests === 1 ? ' request' : ' requests') + ' per ' + unit;
}

export function render(view, clientId) {
  document.title = clientId + ' \u00b7 API auth token \u00b7 keygate';
  var back = el('a', { class: 'back-link', href: '/api-auth-token', testid: 'back-to-tokens', text: '\u2190 API auth tokens' });
  if (!has('ManageSecurity')) {
    append(view, [back, pageHeader('API auth token', null),
      permissionState('You can\u2019t manage API auth tokens', 'ManageSecurity', 'view API auth tokens and their usage')]);
    return;
  }
  var base = V1 + '/apiToken/' + encodeURIComponent(clientId);
  var token = null;
  var alerts = el('div', { hidden: true, testid: 'page-alerts' });
  var secretsBtn = el('button', { type: 'button', class: 'btn', testid: 'open-secrets', text: 'Secrets\u2026', disabled: true });
  var header = pageHeader(clientId, null, secretsBtn);
  header.querySelector('h1').classList.add('mono-title');
  var loading = el('p', { class: 'loading', text: 'Loading token\u2026' });
  var details = el('dl', { class: 'details', testid: 'token-details' });
  var detailsCard = el('section', { class: 'card card-pad', hidden: true, 'aria-labelledby': 'details-h' },
    el('h2', { id: 'details-h', text: 'Token' }), details);

  /* ---- usage ---- */
  var params = new URLSearchParams(window.location.search);
  var range = rangeOf(params.get('range')) || rangeOf('7d');
  var usageErr = el('div', { hidden: true, testid: 'usage-error' });
  var totalsBox = el('div');
  var chartBox = el('div', { class: 'chart-box', testid: 'usage-chart-box' }, el('p', { class: 'loading', text: 'Loading usage\u2026' }));
  var picker = rangePicker(range.key, function (r) {
    range = r;
    var q = new URLSearchParams(window.location.search);
    q.set('range', r.key);
    window.history.replaceState(null, '', window.location.pathname + '?' + q.toString());
    loadUsage();
  });
  var usageCard = el('section', { class: 'card card-pad', 'aria-labelledby': 'usage-h', testid: 'usage-section' },
    el('div', { class: 'card-head' }, el('h2', { id: 'usage-h', text: 'Usage' }), picker.node),
    usageErr, totalsBox, chartBox);

  /* ---- usage controls ---- */
  var controls = usageControls(base, function (t) {
    token = t;
    drawDetails();
  });

  append(view, [back, header, alerts, loading, detailsCard, usageCard, controls.node]);

  function row(label, value, testid) {
    return [el('dt', { text: label }), el('dd', { testid: testid }, value)];
  }

  function drawDetails() {
    var t = token;
    var active = t.status === 'Active';
    clear(details);
    append(details, [
      row('Description', t.description || el('span', { class: 'faint', text: 'No description' }), 'detail-description'),
      row('Assigned role', t.roleName, 'detail-role'),
      row('Status', el('span', { class: 'badge ' + (active ? 'badge-active' : 'badge-revoked'), text: t.status }), 'detail-status'),
      row('Live secrets', active ? String(t.secretCount || 0) : '\u2014', 'detail-secrets'),
      row('Created', fmtTime(t.createdOn) || '\u2014', 'detail-created'),
      row('Last access', t.lastAccessOn ? fmtTime(t.lastAccessOn) : 'never', 'detail-last-access'),
      row('Expires', t.expiresOn ? fmtTime(t.expiresOn) : 'never', 'detail-expires'),
      row('Rate limit', limitText(t.rateLimit), 'detail-rate-limit'),
      row('Allowed addresses', t.allowedCidrs && t.allowedCidrs.length ? t.allowedCidrs.join(', ') : 'Any address', 'detail-cidrs'),
    ]);
    detailsCard.hidden = false;
    secretsBtn.disabled = false;
    var d = header.querySelector('p');
    if (!d) header.firstChild.appendChild(d = el('p'));
    d.textContent = t.description || 'No description';
  }

  var generation = 0;
  function loadUsage() {
    var mine = ++generation;
    hideError(usageErr);
    chartBox.classList.add('is-loading');
    api('GET', base + '/usage?' + rangeQuery(range)).then(function (u) {
      if (mine !== generation) return;
      clear(totalsBox);
      totalsBox.appendChild(totalsRow(u.totals || {}));
      clear(chartBox);
      chartBox.appendChild(stackedChart(u.result || [], { granularity: u.granularity || range.granularity,
        title: 'Requests of ' + clientId + ' in the last ' + range.label }));
    }).catch(function (err) {
      if (mine !== generation) return;
      showError(usageErr, err, 'view this token\u2019s usage', 'ManageSecurity');
    }).then(function () {
      if (mine === generation) chartBox.classList.remove('is-loading');
    });
  }

  secretsBtn.addEventListener('click', function () {
    openSecretsDialog(token, function (t) {
      token = t;
      drawDetails();
    }, function () { secretsBtn.focus(); });
  });

  api('GET', base).then(function (t) {
    token = t;
    drawDetails();
    controls.set(t);
  }).catch(function (err) {
    showError(alerts, err, 'view API auth tokens', 'ManageSecurity');
    usageCard.hidden = true;
    controls.node.hidden = true;
  }).then(function () { loading.hidden = true; });
  loadUsage();
}

/*
 * The usage controls editor: rate limit (the deployment's default, or N requests per period)
 * and allowed address ranges (one CIDR a line; none: any address), saved with PATCH.  The
 * server checks them: its 400 is shown as it says.  onSaved(token) after a save.
 * Returns {node, set(token)}.
 */
function usageControls(base, onSaved) {
  var token = null;
  var errBox = el('div', { hidden: true, testid: 'controls-error' });
  var useDefault = el('input', { type: 'radio', name: 'rate-mode', id: 'rate-default', value: 'default', testid: 'rate-default' });
  var useCustom = el('input', { type: 'radio', name: 'rate-mode', id: 'rate-custom', value: 'custom', testid: 'rate-custom' });
  var requests = el('input', { class: 'input num', type: 'number', id: 'rate-requests', min: 1, step: 1, testid: 'rate-requests',
    'aria-label': 'Requests' });
  var period = el('input', { class: 'input num', type: 'number', id: 'rate-period', min: 1, step: 1, testid: 'rate-period',
    'aria-label': 'Period' });
  var unit = el('select', { class: 'input unit', id: 'rate-unit', testid: 'rate-unit', 'aria-label': 'Period unit' });
  UNITS.slice().reverse().forEach(function (u) { unit.appendChild(el('option', { value: String(u[0]), text: u[1] })); });
  var cidrs = el('textarea', { class: 'input mono', id: 'allowed-cidrs', rows: 4, testid: 'allowed-cidrs', spellcheck: 'false',
    placeholder: 'Any address', 'aria-describedby': 'cidrs-hint' });
  var save = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'save-controls', text: 'Save usage controls' });
  var revokedNote = el('div', { class: 'alert alert-info', hidden: true, testid: 'controls-revoked' },
    el('div', { class: 'alert-body', text: 'This token is revoked: its usage controls can no longer be changed.' }));
  var fieldset = el('fieldset', { class: 'choices' },
    el('legend', { text: 'Rate limit' }),
    el('div', { class: 'choice-col' },
      el('label', { class: 'checkbox', for: 'rate-default' }, useDefault, 'Deployment default',
        el('span', { class: 'hint', text: ' (serve --default-rate-limit; none when it is not set)' })),
      el('div', { class: 'rate-row' },
        el('label', { class: 'checkbox', for: 'rate-custom' }, useCustom, 'At most'),
        requests, el('span', { text: 'requests per' }), period, unit)));
  var form = el('form', { class: 'controls-form', novalidate: 'novalidate', testid: 'controls-form' },
    revokedNote, errBox, fieldset,
    el('div', { class: 'field' },
      el('label', { for: 'allowed-cidrs', text: 'Allowed address ranges' }),
      cidrs,
      el('span', { class: 'hint', id: 'cidrs-hint', text: 'One range a line in CIDR form (IPv4 or IPv6), at most ' + CIDRS_MAX +
        '. Exchanges and gate checks from any other address are refused. Empty: any address.' })),
    el('div', { class: 'form-actions' }, save));
  var node = el('section', { class: 'card card-pad', 'aria-labelledby': 'controls-h', testid: 'usage-controls', hidden: true },
    el('h2', { id: 'controls-h', text: 'Usage controls' }),
    el('p', { class: 'muted', text: 'Bound what this token can do: the rate limit applies to gate checks and API calls made ' +
      'with its access tokens; the address ranges to its exchanges and gate checks.' }),
    form);

  function syncMode() {
    var custom = useCustom.checked;
    requests.disabled = period.disabled = unit.disabled = !custom || !active();
  }
  function active() { return token && token.status === 'Active'; }

  function set(t) {
    token = t;
    node.hidden = false;
    hideError(errBox);
    var rl = t.rateLimit;
    useDefault.checked = !rl;
    useCustom.checked = !!rl;
    if (rl) {
      var u = UNITS.filter(function (x) { return rl.periodSeconds % x[0] === 0; })[0];
      requests.value = String(rl.requests);
      period.value = String(rl.periodSeconds / u[0]);
      unit.value = String(u[0]);
    } else {
      requests.value = '100';
      period.value = '1';
      unit.value = '60';
    }
    cidrs.value = (t.allowedCidrs || []).join('\n');
    var ro = !active();
    revokedNote.hidden = !ro;
    [useDefault, useCustom, cidrs, save].forEach(function (x) { x.disabled = ro; });
    syncMode();
  }

  function wholeNumber(input, what) {
    var v = input.value.trim();
    if (!/^[0-9]+$/.test(v) || Number(v) < 1) {
      input.focus();
      throw new Error(what + ' must be a whole number, 1 or more.');
    }
    return Number(v);
  }

  form.addEventListener('change', syncMode);
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    hideError(errBox);
    var body;
    try {
      var lines = cidrs.value.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
      body = { rateLimit: null, allowedCidrs: lines };
      if (useCustom.checked) {
        body.rateLimit = { requests: wholeNumber(requests, 'Requests'),
          periodSeconds: wholeNumber(period, 'The period') * Number(unit.value) };
      }
    } catch (e) {
      clear(errBox);
      errBox.appendChild(el('div', { class: 'alert alert-error', role: 'alert', text: e.message }));
      errBox.hidden = false;
      return;
    }
    save.disabled = true;
    save.textContent = 'Saving\u2026';
    api('PATCH', base, body).then(function (t) {
      set(t);
      onSaved(t);
      toast('Usage controls saved.');
    }).catch(function (err) {
      showError(errBox, err, 'change API auth tokens', 'ManageSecurity');
    }).then(function () {
      save.disabled = !active();
      save.textContent = 'Save usage controls';
    });
  });

  return { node: node, set: set };
}
