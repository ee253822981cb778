/*
 * modal.js — a <dialog> shown modally, with a title, a body, a footer and a × button.
 */
import { el } from './dom.js';

/*
 * opts.onRequestClose() returns false to keep it open (asked on Escape, the × button and a
 * click on the backdrop); opts.onClosed() runs once when it goes.  opts.wide, opts.testid, and
 * opts.className (more classes on the <dialog>, e.g. a width of its own).
 */
export function modal(title, opts) {
  opts = opts || {};
  var titleId = 'dlg-title-' + Math.random().toString(36).slice(2);
  var heading = el('h2', { id: titleId, text: title });
  var closeBtn = el('button', { type: 'button', class: 'btn btn-ghost btn-icon', 'aria-label': 'Close', testid: 'dialog-close', text: '\u00d7' });
  var body = el('div', { class: 'modal-body' });
  var footer = el('div', { class: 'modal-footer' });
  var inner = el('div', { class: 'modal-inner' }, el('div', { class: 'modal-header' }, heading, closeBtn), body, footer);
  var dlg = el('dialog', { class: 'modal' + (opts.wide ? ' modal-wide' : '') + (opts.className ? ' ' + opts.className : ''), 'aria-labelledby': titleId, testid: opts.testid || 'dialog' }, inner);
  var closing = false;
  var downOnBackdrop = false;

  function outside(ev) {
    var r = dlg.getBoundingClientRect();
    return ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom;
  }
  function requestClose() {
    if (opts.onRequestClose && opts.onRequestClose() === false) return;
    close();
  }
  function close() {
    closing = true;
    if (dlg.open) dlg.close();
  }
  closeBtn.addEventListener('click', requestClose);
  dlg.addEventListener('cancel', function (ev) {
    ev.preventDefault();
    requestClose();
  });
  dlg.addEventListener('mousedown', function (ev) { downOnBackdrop = ev.target === dlg && outside(ev); });
  dlg.addEventListener('click', function (ev) {
    if (ev.target === dlg && downOnBackdrop && outside(ev)) requestClose();
    downOnBackdrop = false;
  });
  dlg.addEventListener('close', function () {
    /* Closed by the browser without asking us (a repeated Escape): ask now, reopen if kept. */
    if (!closing && opts.onRequestClose && opts.onRequestClose() === false) {
      dlg.showModal();
      return;
    }
    if (dlg.parentNode) dlg.parentNode.removeChild(dlg);
    if (opts.onClosed) opts.onClosed();
  });
  document.body.appendChild(dlg);
  dlg.showModal();
  return { dialog: dlg, body: body, footer: footer, heading: heading, close: close, requestClose: requestClose };
}

/* A dialog's Done button, in its footer: closes it. */
export function doneButton(m) {
  var done = el('button', { type: 'button', class: 'btn', text: 'Done', testid: 'dialog-done' });
  done.addEventListener('click', function () { m.close(); });
  m.footer.appendChild(done);
  return done;
}
