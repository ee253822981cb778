/*
 * secret-once.js — the two-step dialog that ends with a secret key shown once, for Generate
 * new token, Add secret and Rotate: step 1 is the caller's form; once the caller's submit()
 * has made the secret, step 2 shows the Client ID and the Secret key with Copy buttons, says
 * it will not be shown again, and enables its Save button only when "I have saved the secret
 * key" is ticked.  At step 2, closing any other way (Escape, ×, the backdrop) asks first.
 */
import { hideError, showError, showMessage } from './api.js';
import { copyRow } from './copy.js';
import { append, clear, el, toast } from './dom.js';
import { modal } from './modal.js';

function stepper(current) {
  function step(n, label) {
    var cls = 'step' + (n === current ? ' current' : n < current ? ' done' : '');
    return el('span', { class: cls }, el('span', { class: 'step-num', text: n < current ? '\u2713' : String(n) }), label);
  }
  return el('div', { class: 'stepper', 'aria-label': 'Step ' + current + ' of 2' },
    step(1, 'Details'), el('span', { class: 'sep' }), step(2, 'Secret key'));
}

/*
 * opts.title, opts.testid: the dialog's; opts.lead: a sentence over the form;
 * opts.fields: the form's nodes (the caller's inputs); opts.focus: the input to focus first;
 * opts.submitText, opts.submittingText, opts.submitTestid: the step 1 button;
 * opts.check(): '' or what is missing (nothing is sent then); opts.submit(): a promise of the
 * new object, which carries clientId and clientSecret; opts.what: completes "You don't have
 * permission to …" in an error; opts.secretTitle: step 2's heading; opts.loseText: what to do
 * if the secret is lost; opts.summary(made): nodes under the secret; opts.saveText,
 * opts.saveTestid, opts.savedToast: step 2's button and the toast after it.
 * opts.onSaved(made) runs once when the dialog goes away after the secret was made (Save, or
 * a confirmed close), with clientSecret already deleted from `made`.  Returns the modal.
 */
export function secretOnceDialog(opts) {
  var step = 1;
  var made = null;
  var saved = null;
  var formId = opts.testid + '-form';
  var m = modal(opts.title, {
    testid: opts.testid,
    onRequestClose: function () {
      if (step !== 2) return true;
      return window.confirm(saved && saved.checked
        ? 'Close without saving? The secret key will not be shown again.'
        : 'You have not confirmed that you saved the secret key. It will not be shown again.\n\nClose anyway?');
    },
    onClosed: function () {
      if (made) {
        var x = made;
        made = null;
        delete x.clientSecret;
        opts.onSaved(x);
      }
    },
  });

  /* Step 1: the caller's details. */
  var errorBox = el('div', { testid: 'dialog-error', hidden: true });
  var submit = el('button', { type: 'submit', class: 'btn btn-primary', testid: opts.submitTestid, text: opts.submitText });
  var cancel = el('button', { type: 'button', class: 'btn', text: 'Cancel', testid: 'cancel' });
  var form = el('form', { novalidate: true, id: formId },
    stepper(1),
    opts.lead ? el('p', { class: 'lead', text: opts.lead }) : null,
    opts.fields,
    errorBox);
  m.body.appendChild(form);
  submit.setAttribute('form', formId);
  append(m.footer, [cancel, submit]);
  cancel.addEventListener('click', function () { m.requestClose(); });
  if (opts.focus) opts.focus.focus();

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    hideError(errorBox);
    var missing = opts.check ? opts.check() : '';
    if (missing) {
      showMessage(errorBox, missing);
      return;
    }
    submit.disabled = true;
    cancel.disabled = true;
    submit.textContent = opts.submittingText;
    opts.submit().then(function (x) {
      made = x;
      showSecret(x);
    }).catch(function (err) {
      submit.disabled = false;
      cancel.disabled = false;
      submit.textContent = opts.submitText;
      showError(errorBox, err, opts.what, 'ManageSecurity');
    });
  });

  /* Step 2: the secret, once. */
  function showSecret(x) {
    step = 2;
    m.heading.textContent = opts.secretTitle;
    clear(m.body);
    clear(m.footer);
    saved = el('input', { type: 'checkbox', id: 'saved-checkbox', testid: 'saved-checkbox' });
    var save = el('button', { type: 'button', class: 'btn btn-primary', testid: opts.saveTestid, text: opts.saveText, disabled: true });
    var copySecret;
    append(m.body, [
      stepper(2),
      el('div', { class: 'alert alert-warn', testid: 'secret-warning' },
        el('div', { class: 'alert-body' },
          el('strong', { text: 'Copy the secret key now. It will not be shown again.' }),
          el('span', { class: 'alert-detail', text: 'keygate keeps only a hash of it. ' + opts.loseText }))),
      copyRow('Client ID', x.clientId, 'client-id', 'copy-client-id'),
      (copySecret = copyRow('Secret key', x.clientSecret, 'secret-key', 'copy-secret', 'secret')),
      opts.summary(x),
      el('label', { class: 'checkbox', for: 'saved-checkbox' }, saved, 'I have saved the secret key')]);
    m.footer.appendChild(save);
    saved.addEventListener('change', function () { save.disabled = !saved.checked; });
    save.addEventListener('click', function () {
      if (!saved.checked) return;
      step = 3;
      m.close();
      toast(opts.savedToast);
    });
    var btn = copySecret.querySelector('button');
    if (btn) btn.focus();
  }

  return m;
}
