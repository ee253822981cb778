/*
 * paging.js — a list read a page at a time (PAGE_SIZE rows, newest first) with a "Load more"
 * button under it, for API auth tokens, users and the audit log.
 */
import { api, PAGE_SIZE, pageUrl } from './api.js';
import { el } from './dom.js';

/*
 * opts.base: the list's URL; opts.query(): more query parameters ("actor=…"), optional;
 * opts.testid: the button's; opts.onStart(fresh): before each request, optional;
 * opts.onRows(rows) or opts.onError(err), then opts.onDone() once the button is settled.
 * load(true) starts again from the top; a reply to an older request than the last load()
 * is dropped.  more() says whether there is a next page.
 */
export function pager(opts) {
  var token = '';
  var generation = 0;
  var button = el('button', { type: 'button', class: 'btn btn-sm', testid: opts.testid, text: 'Load more', hidden: true });

  function load(fresh) {
    var mine = ++generation;
    if (fresh) token = '';
    if (opts.onStart) opts.onStart(fresh);
    button.disabled = true;
    button.textContent = 'Loading\u2026';
    return api('GET', pageUrl(opts.base, PAGE_SIZE, token, opts.query ? opts.query() : [])).then(function (data) {
      if (mine !== generation) return;
      token = (data && data.nextPageToken) || '';
      opts.onRows((data && data.result) || []);
    }).catch(function (err) {
      if (mine !== generation) return;
      opts.onError(err);
    }).then(function () {
      if (mine !== generation) return;
      button.disabled = false;
      button.textContent = 'Load more';
      button.hidden = !token;
      if (opts.onDone) opts.onDone();
    });
  }

  button.addEventListener('click', function () { load(false); });
  return { button: button, load: load, more: function () { return !!token; } };
}
