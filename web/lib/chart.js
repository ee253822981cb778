/*
 * chart.js — the pane's pictures of usage, in plain SVG: a sparkline (a token's requests and
 * refusals over a few days, in a table cell) and a stacked bar chart over time (allowed
 * requests and the refused ones by reason) with axes, a legend and a tooltip on hover or on
 * the arrow keys.  No library and no build step: a few hundred SVG elements at most.
 *
 * Usage counts are those of the API (GET …/usage): exchanges, gateAllowed, apiCalls and the
 * four refused* counts.  The colours are the Okabe–Ito palette, told apart with the usual
 * kinds of colour blindness; the legend lists the series in their stacking order, bottom up,
 * and every number is in text too (legend, tooltip, aria-label).
 */
import { el } from './dom.js';

var SVG_NS = 'http://www.w3.org/2000/svg';

/* The chart's series, bottom of the stack first; key is a count of a usage record. */
export var SERIES = [
  { key: 'allowed', label: 'Allowed', color: '#0072B2' },
  { key: 'refusedPrivilege', label: 'Refused: privilege', color: '#D55E00' },
  { key: 'refusedRateLimit', label: 'Refused: rate limit', color: '#E69F00' },
  { key: 'refusedAddress', label: 'Refused: address', color: '#CC79A7' },
  { key: 'refusedExpired', label: 'Refused: expired', color: '#3D3D3D' },
];
export var REFUSED_COLOR = '#D55E00';
var ALLOWED_COLOR = '#0072B2';

/* A usage record's count for a series key: "allowed" is what was let through. */
export function count(rec, key) {
  if (key === 'allowed') return (rec.exchanges || 0) + (rec.gateAllowed || 0) + (rec.apiCalls || 0);
  return rec[key] || 0;
}

export function fmtNum(n) {
  return Number(n || 0).toLocaleString('en-US');
}

function svg(tag, attrs) {
  var node = document.createElementNS(SVG_NS, tag);
  Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
  return node;
}

function svgText(x, y, text, attrs) {
  var t = svg('text', Object.assign({ x: x, y: y }, attrs || {}));
  t.textContent = text;
  return t;
}

/* A bucket's time in words: an hour in local time, a day as its UTC date (days are UTC). */
export function bucketLabel(start, granularity) {
  var d = new Date(start);
  if (granularity === 'day') {
    return d.toLocaleDateString('en-US', { timeZone: 'UTC', weekday: 'short', month: 'short', day: 'numeric' });
  }
  var end = new Date(d.getTime() + 3600000);
  return d.toLocaleDateString('en-US', { month: 'short', day: 'numeric' }) + ', ' +
    d.toLocaleTimeString('en-US', { hour: '2-digit', minute: '2-digit', hour12: false }) + '\u2013' +
    end.toLocaleTimeString('en-US', { hour: '2-digit', minute: '2-digit', hour12: false });
}

/*
 * A sparkline of points [{start, requests, refused}] (oldest first): requests as a filled
 * line, refusals as a line of their own beneath.  opts.label names the span ("Last 7 days");
 * the numbers are in the aria-label and the title (each day's too).  Returns an <svg>.
 */
export function sparkline(points, opts) {
  opts = opts || {};
  var w = opts.width || 110;
  var h = opts.height || 26;
  var total = 0;
  var refused = 0;
  var max = 1;
  points.forEach(function (p) {
    total += p.requests || 0;
    refused += p.refused || 0;
    if ((p.requests || 0) > max) max = p.requests;
  });
  var summary = (opts.label || 'Usage') + ': ' + fmtNum(total) + (total === 1 ? ' request, ' : ' requests, ') +
    fmtNum(refused) + ' refused';
  /* Each bucket in the title too, when there are few (a week of days, a day of hours). */
  var detail = points.length > 31 ? [] : points.map(function (p) {
    return bucketLabel(p.start, opts.granularity || 'day') + ': ' + fmtNum(p.requests) + ' (' + fmtNum(p.refused) + ' refused)';
  });
  var node = svg('svg', { class: 'sparkline', viewBox: '0 0 ' + w + ' ' + h, width: w, height: h, role: 'img',
    'aria-label': summary, 'data-testid': 'sparkline', 'data-requests': String(total), 'data-refused': String(refused) });
  var title = svg('title');
  title.textContent = summary + (detail.length ? '\n' + detail.join('\n') : '');
  node.appendChild(title);
  var n = points.length;
  if (!n) return node;
  var pad = 2;
  function x(i) { return n === 1 ? w / 2 : pad + (i * (w - 2 * pad)) / (n - 1); }
  function y(v) { return h - pad - ((v || 0) * (h - 2 * pad)) / max; }
  var line = points.map(function (p, i) { return x(i).toFixed(1) + ',' + y(p.requests).toFixed(1); }).join(' ');
  node.appendChild(svg('line', { x1: 0, x2: w, y1: h - pad + 0.5, y2: h - pad + 0.5, stroke: '#d1d9e0', 'stroke-width': 1 }));
  node.appendChild(svg('polygon', { points: x(0).toFixed(1) + ',' + (h - pad) + ' ' + line + ' ' + x(n - 1).toFixed(1) + ',' + (h - pad),
    fill: ALLOWED_COLOR, 'fill-opacity': 0.14 }));
  /* Nothing at all: a grey line on the floor. */
  node.appendChild(svg('polyline', { points: line, fill: 'none', stroke: total ? ALLOWED_COLOR : '#afb8c1', 'stroke-width': 1.5,
    'stroke-linejoin': 'round' }));
  if (refused > 0) {
    node.appendChild(svg('polyline', { points: points.map(function (p, i) { return x(i).toFixed(1) + ',' + y(p.refused).toFixed(1); }).join(' '),
      fill: 'none', stroke: REFUSED_COLOR, 'stroke-width': 1.5, 'stroke-dasharray': '3 2', 'stroke-linejoin': 'round' }));
  }
  return node;
}

/* Round tick steps for an axis up to max: 1, 2, 5 × 10^k. */
function ticks(max) {
  if (max <= 0) return [0, 1];
  var raw = max / 4;
  var mag = Math.pow(10, Math.floor(Math.log10(raw)));
  var step = [1, 2, 5, 10].map(function (m) { return m * mag; }).filter(function (s) { return s >= raw; })[0];
  step = Math.max(1, step);
  var out = [];
  for (var v = 0; v <= max + step - 1e-9 && out.length < 12; v += step) out.push(v);
  return out;
}

/*
 * A stacked bar chart of usage buckets [{start, <counts>}] (oldest first).  opts.granularity
 * is 'hour' or 'day'; opts.title names it for screen readers.  Returns a <figure> with the
 * legend (each series' total over the range), the chart and its tooltip.
 */
export function stackedChart(buckets, opts) {
  opts = opts || {};
  var gran = opts.granularity || 'hour';
  var W = 960;
  var H = 260;
  var M = { top: 12, right: 12, bottom: 30, left: 52 };
  var iw = W - M.left - M.right;
  var ih = H - M.top - M.bottom;
  var totals = {};
  SERIES.forEach(function (s) { totals[s.key] = 0; });
  var max = 0;
  buckets.forEach(function (b) {
    var sum = 0;
    SERIES.forEach(function (s) {
      var v = count(b, s.key);
      totals[s.key] += v;
      sum += v;
    });
    if (sum > max) max = sum;
  });
  var ys = ticks(max);
  var top = ys[ys.length - 1] || 1;
  var n = buckets.length;
  var slot = n ? iw / n : iw;
  var bw = Math.max(1, slot * (n > 60 ? 0.86 : 0.72));
  function y(v) { return M.top + ih - (v * ih) / top; }

  var all = SERIES.reduce(function (a, s) { return a + totals[s.key]; }, 0);
  var refusedAll = all - totals.allowed;
  var root = svg('svg', { class: 'chart-svg', viewBox: '0 0 ' + W + ' ' + H, role: 'img', tabindex: 0,
    'aria-label': (opts.title || 'Requests over time') + ': ' + fmtNum(all) + ' requests, ' + fmtNum(totals.allowed) +
      ' allowed, ' + fmtNum(refusedAll) + ' refused, in ' + n + (gran === 'day' ? ' days' : ' hours') +
      '. Use the left and right arrow keys to read each ' + gran + '.',
    'data-testid': 'usage-chart-svg' });

  ys.forEach(function (v) {
    root.appendChild(svg('line', { x1: M.left, x2: W - M.right, y1: y(v) + 0.5, y2: y(v) + 0.5,
      stroke: v === 0 ? '#818b98' : '#e6eaef', 'stroke-width': 1 }));
    root.appendChild(svgText(M.left - 8, y(v) + 4, fmtNum(v), { 'text-anchor': 'end', class: 'chart-tick' }));
  });

  /* x labels: about 8 of them, on whole days (day) or round hours (hour). */
  var every = Math.max(1, Math.ceil(n / 8));
  if (gran === 'hour' && n > 24) every = Math.ceil(every / 24) * 24 || 24;
  else if (gran === 'hour') every = Math.max(1, [1, 2, 3, 4, 6, 12].filter(function (s) { return n / s <= 9; })[0] || 12);
  var bars = svg('g', { class: 'chart-bars' });
  var hit = svg('g', { class: 'chart-hit' });
  buckets.forEach(function (b, i) {
    var x0 = M.left + i * slot + (slot - bw) / 2;
    var acc = 0;
    SERIES.forEach(function (s) {
      var v = count(b, s.key);
      if (!v) return;
      var y1 = y(acc + v);
      var y0 = y(acc);
      acc += v;
      bars.appendChild(svg('rect', { x: x0.toFixed(2), y: y1.toFixed(2), width: bw.toFixed(2),
        height: Math.max(0.5, y0 - y1).toFixed(2), fill: s.color, 'data-series': s.key }));
    });
    var d = new Date(b.start);
    var labelHere = gran === 'day' ? i % every === 0
      : (n > 24 ? d.getHours() === 0 : i % every === 0);
    if (labelHere) {
      var text = gran === 'day'
        ? d.toLocaleDateString('en-US', { timeZone: 'UTC', month: 'short', day: 'numeric' })
        : n > 24 ? d.toLocaleDateString('en-US', { month: 'short', day: 'numeric' })
          : d.toLocaleTimeString('en-US', { hour: '2-digit', minute: '2-digit', hour12: false });
      var cx = M.left + i * slot + (n > 24 && gran === 'hour' ? 0 : slot / 2);
      root.appendChild(svg('line', { x1: cx, x2: cx, y1: M.top + ih, y2: M.top + ih + 4, stroke: '#818b98' }));
      root.appendChild(svgText(cx, H - 10, text, { 'text-anchor': 'middle', class: 'chart-tick' }));
    }
    hit.appendChild(svg('rect', { x: (M.left + i * slot).toFixed(2), y: M.top, width: slot.toFixed(2), height: ih,
      fill: 'transparent', 'data-index': String(i) }));
  });
  var cursor = svg('rect', { class: 'chart-cursor', x: 0, y: M.top, width: slot.toFixed(2), height: ih,
    fill: '#4f46e5', 'fill-opacity': 0.08, visibility: 'hidden' });
  root.appendChild(cursor);
  root.appendChild(bars);
  root.appendChild(hit);

  var legend = el('ul', { class: 'chart-legend', testid: 'chart-legend' },
    SERIES.map(function (s) {
      var sw = svg('svg', { class: 'swatch', viewBox: '0 0 12 12', width: 12, height: 12, 'aria-hidden': 'true' },
        svg('rect', { x: 0, y: 0, width: 12, height: 12, rx: 2, fill: s.color }));
      return el('li', { testid: 'legend-item', 'data-series': s.key, 'data-total': String(totals[s.key]) },
        sw, el('span', { class: 'legend-label', text: s.label }),
        el('span', { class: 'legend-value', testid: 'legend-total', text: fmtNum(totals[s.key]) }));
    }));
  var tip = el('div', { class: 'chart-tip', testid: 'chart-tip', role: 'status', 'aria-live': 'polite', hidden: true });
  var plot = el('div', { class: 'chart-plot' }, root, tip);
  var figure = el('figure', { class: 'chart', testid: 'usage-chart', 'data-buckets': String(n), 'data-granularity': gran },
    legend, plot,
    el('figcaption', { class: 'chart-caption', text: gran === 'day'
      ? 'One bar a day (UTC days), bottom up in the legend\u2019s order.'
      : 'One bar an hour (your local time), bottom up in the legend\u2019s order.' }));

  var current = -1;
  function show(i) {
    if (i < 0 || i >= n) return;
    current = i;
    var b = buckets[i];
    cursor.setAttribute('x', (M.left + i * slot).toFixed(2));
    cursor.setAttribute('visibility', 'visible');
    tip.textContent = '';
    tip.appendChild(el('strong', { text: bucketLabel(b.start, gran) }));
    var sum = 0;
    var rows = SERIES.map(function (s) {
      var v = count(b, s.key);
      sum += v;
      return el('li', null, el('span', { class: 'swatch-dot', 'data-series': s.key }), s.label + ': ' + fmtNum(v));
    }).reverse(); /* read top down, as stacked */
    tip.appendChild(el('span', { class: 'tip-total', text: fmtNum(sum) + (sum === 1 ? ' request' : ' requests') }));
    tip.appendChild(el('ul', null, rows));
    tip.hidden = false;
    /* Beside the bar, inside the plot: the viewBox scales with the figure's width. */
    var scale = root.getBoundingClientRect().width / W;
    var left = (M.left + (i + 0.5) * slot) * scale;
    var room = plot.getBoundingClientRect().width;
    var tw = tip.offsetWidth || 180;
    tip.style.left = Math.max(0, Math.min(room - tw, left + 12 > room - tw ? left - tw - 12 : left + 12)) + 'px';
    tip.style.top = (M.top * scale) + 'px';
  }
  function hide() {
    current = -1;
    cursor.setAttribute('visibility', 'hidden');
    tip.hidden = true;
  }
  hit.addEventListener('mousemove', function (ev) {
    var i = Number(ev.target.getAttribute('data-index'));
    if (!isNaN(i) && i !== current) show(i);
  });
  root.addEventListener('mouseleave', hide);
  root.addEventListener('blur', hide);
  root.addEventListener('keydown', function (ev) {
    var next = ev.key === 'ArrowRight' ? current + 1 : ev.key === 'ArrowLeft' ? (current < 0 ? n - 1 : current - 1)
      : ev.key === 'Home' ? 0 : ev.key === 'End' ? n - 1 : ev.key === 'Escape' ? -2 : null;
    if (next === null) return;
    ev.preventDefault();
    if (next === -2) hide();
    else show(Math.max(0, Math.min(n - 1, next)));
  });
  return figure;
}
