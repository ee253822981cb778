/*
 * dom.js — building the page: elements, icons, times, sentences and the toast.
 *
 * The DOM is built with createElement/textContent only: descriptions, names and emails are
 * user input and never go through innerHTML.
 */

export function append(node, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    child.forEach(function (c) { append(node, c); });
    return;
  }
  node.appendChild(typeof child === 'string' || typeof child === 'number'
    ? document.createTextNode(String(child)) : child);
}

/* el('button', {class: 'btn', text: 'Go', testid: 'go', on: {click: fn}}, ...children) */
export function el(tag, props) {
  var node = document.createElement(tag);
  if (props) {
    Object.keys(props).forEach(function (k) {
      var v = props[k];
      if (v === undefined || v === null) return;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k === 'testid') node.setAttribute('data-testid', v);
      else if (k === 'on') Object.keys(v).forEach(function (ev) { node.addEventListener(ev, v[ev]); });
      else if (k === 'value') node.value = v;
      else if (typeof v === 'boolean') node[k] = v;
      else node.setAttribute(k, v);
    });
  }
  for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

var SVG_NS = 'http://www.w3.org/2000/svg';
var ICONS = {
  key: [['circle', { cx: 7.5, cy: 15.5, r: 4.5 }], ['path', { d: 'M10.7 12.3 20 3M16 7l3 3M14 9l2 2' }]],
  lock: [['rect', { x: 4, y: 10, width: 16, height: 11, rx: 2 }], ['path', { d: 'M8 10V7a4 4 0 0 1 8 0v3' }]],
  shield: [['path', { d: 'M12 3 4 6v6c0 5 3.4 8.3 8 9 4.6-.7 8-4 8-9V6z' }]],
  users: [['circle', { cx: 9, cy: 8, r: 4 }], ['path', { d: 'M2 21c0-3.9 3.1-7 7-7s7 3.1 7 7' }]],
  plus: [['path', { d: 'M12 5v14M5 12h14' }]],
  search: [['circle', { cx: 11, cy: 11, r: 7 }], ['path', { d: 'm20 20-3.5-3.5' }]],
  log: [['path', { d: 'M14 3H6a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z' }], ['path', { d: 'M14 3v6h6M8 13h8M8 17h5' }]],
};

export function icon(name) {
  var svg = document.createElementNS(SVG_NS, 'svg');
  var attrs = { viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': 2,
    'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true' };
  Object.keys(attrs).forEach(function (k) { svg.setAttribute(k, attrs[k]); });
  (ICONS[name] || []).forEach(function (part) {
    var p = document.createElementNS(SVG_NS, part[0]);
    Object.keys(part[1]).forEach(function (k) { p.setAttribute(k, part[1][k]); });
    svg.appendChild(p);
  });
  return svg;
}

export function fmtTime(iso) {
  if (!iso) return '';
  var d = new Date(iso);
  return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/* Local time in two short lines ("Dec 1, 2026" over "10:46 AM", or "10:46:05 AM" with
 * seconds); the full local time and the UTC value are in the tooltip. */
export function timeCell(iso, emptyText, seconds) {
  var td = el('td', { class: 'nowrap time-cell' });
  var d = iso ? new Date(iso) : null;
  if (!iso) {
    td.appendChild(el('span', { class: 'faint', text: emptyText }));
  } else if (isNaN(d.getTime())) {
    td.appendChild(el('time', { datetime: iso, text: String(iso) }));
  } else {
    td.appendChild(el('time', { datetime: iso, title: fmtTime(iso) + ' (' + iso + ')' },
      el('span', { class: 'date', text: d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) }),
      el('span', { class: 'clock', text: d.toLocaleString(undefined,
        seconds ? { hour: 'numeric', minute: '2-digit', second: '2-digit' } : { hour: 'numeric', minute: '2-digit' }) })));
  }
  return td;
}

export function sentence(text) {
  var s = String(text || '').trim();
  if (!s) return '';
  /* "no role has that roleId" → "No role has that roleId."; a field name stays as it is. */
  if (/^[a-z]+(\s|$)/.test(s)) s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

var toastTimer = null;
export function toast(text) {
  var t = document.getElementById('toast');
  t.textContent = text;
  t.classList.add('show');
  if (toastTimer) clearTimeout(toastTimer);
  toastTimer = setTimeout(function () { t.classList.remove('show'); }, 3500);
}
