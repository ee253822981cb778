/*
 * copy.js — a value shown once (a secret key, a one-time password) with a Copy button: the
 * clipboard when the page may use it, else a hidden textarea and execCommand, else the text
 * selected for Ctrl+C.
 */
import { el } from './dom.js';

function copyText(text, button, source) {
  var label = button.textContent;
  function done() {
    button.textContent = 'Copied';
    button.classList.add('copied');
    setTimeout(function () {
      button.textContent = label;
      button.classList.remove('copied');
    }, 1600);
  }
  function fallback() {
    /* Inside a modal dialog only the dialog can take focus: put the helper there. */
    var host = button.closest('dialog') || document.body;
    var ta = el('textarea', { class: 'visually-hidden', 'aria-hidden': 'true', readonly: 'readonly' });
    ta.value = text;
    host.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    host.removeChild(ta);
    if (ok) {
      done();
      button.focus();
      return;
    }
    /* Last resort: select the text so Ctrl+C copies it. */
    if (source) {
      var range = document.createRange();
      range.selectNodeContents(source);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    button.textContent = 'Press Ctrl+C';
    setTimeout(function () { button.textContent = label; }, 2500);
  }
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
  else fallback();
}

/* A labelled value with its Copy button; the value's <code> has data-testid `testid`. */
export function copyRow(labelText, value, testid, copyTestid, extraClass) {
  var code = el('code', { testid: testid, id: testid + '-value' }, value);
  var btn = el('button', { type: 'button', class: 'btn btn-sm', testid: copyTestid,
    'aria-label': 'Copy ' + labelText, text: 'Copy' });
  btn.addEventListener('click', function () { copyText(code.textContent, btn, code); });
  return el('div', { class: 'secret-field' },
    el('span', { class: 'label', id: testid + '-label', text: labelText }),
    el('div', { class: 'copy-row' + (extraClass ? ' ' + extraClass : ''), role: 'group', 'aria-labelledby': testid + '-label' }, code, btn));
}
