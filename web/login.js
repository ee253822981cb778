'use strict';
/* keygate — the sign-in page. POST /login {email, password} → session cookie, then on to
 * the page the person came for (a same-site path only) or /api-auth-token. */
(function () {
  var form = document.getElementById('login-form');
  var email = document.getElementById('email');
  var password = document.getElementById('password');
  var submit = document.getElementById('login-submit');
  var errorBox = document.getElementById('login-error');
  var notice = document.getElementById('notice');
  var params = new URLSearchParams(window.location.search);
  var retryTimer = null;

  /* Only a path on this site: "/x", never "//host" or "/\host" or a scheme. */
  function safeNext(value) {
    if (!value || value.charAt(0) !== '/' || value.charAt(1) === '/' || value.charAt(1) === '\\') return null;
    try {
      var u = new URL(value, window.location.origin);
      if (u.origin !== window.location.origin) return null;
      if (u.pathname === '/login') return null;
      return u.pathname + u.search + u.hash;
    } catch (e) {
      return null;
    }
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  var reason = params.get('reason');
  if (reason === 'expired') showNotice('Your session has expired. Sign in again to continue.');
  else if (reason === 'signedout') showNotice('You have been signed out.');
  else if (reason === 'required' || params.get('next')) showNotice('Sign in to continue.');

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.textContent = '';
    errorBox.hidden = true;
  }

  function setBusy(busy) {
    submit.disabled = busy;
    submit.textContent = busy ? 'Signing in…' : 'Sign in';
  }

  function lockFor(seconds) {
    if (retryTimer) clearInterval(retryTimer);
    var left = seconds;
    var tick = function () {
      if (left <= 0) {
        clearInterval(retryTimer);
        retryTimer = null;
        submit.disabled = false;
        submit.textContent = 'Sign in';
        clearError();
        return;
      }
      showError('Too many failed sign-in attempts. Try again in ' + left + (left === 1 ? ' second.' : ' seconds.'));
      submit.disabled = true;
      submit.textContent = 'Sign in';
      left -= 1;
    };
    tick();
    retryTimer = setInterval(tick, 1000);
  }

  function sentence(text) {
    var s = String(text || '').trim();
    if (!s) return '';
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + '.';
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (retryTimer) return;
    clearError();
    var e = email.value.trim();
    var p = password.value;
    if (!e || !p) {
      showError(!e ? 'Enter your email address.' : 'Enter your password.');
      (!e ? email : password).focus();
      return;
    }
    setBusy(true);
    fetch('/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ email: e, password: p }),
    }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (x) { body = null; }
        return { res: res, body: body };
      });
    }).then(function (r) {
      if (r.res.ok) {
        window.location.assign(safeNext(params.get('next')) || '/api-auth-token');
        return;
      }
      setBusy(false);
      if (r.res.status === 429) {
        var after = parseInt(r.res.headers.get('Retry-After') || '', 10);
        lockFor(after > 0 ? after : 30);
        return;
      }
      if (r.res.status === 401) {
        showError('Wrong email or password.');
        password.value = '';
        password.focus();
        return;
      }
      if (r.res.status >= 500) {
        showError('The server had a problem signing you in (' + r.res.status + '). Try again in a moment.');
        return;
      }
      showError(sentence(r.body && r.body.message) || 'Could not sign in (' + r.res.status + ').');
    }).catch(function () {
      setBusy(false);
      showError('Could not reach the server. Check your connection and try again.');
    });
  });
})();
