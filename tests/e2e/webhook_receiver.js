'use strict';
// A webhook receiver for the tests, on 127.0.0.1: it verifies every request's Keygate-Signature
// the way the README tells receivers to (HMAC-SHA256 of "<t>.<body>" with the shared secret,
// compared in constant time, t within the replay window), and keeps what it received.
// receiver.answer(req) decides each answer: a status, or 'hang' (never answer).

const crypto = require('node:crypto');
const http = require('node:http');

const REPLAY_WINDOW_S = 300;

/* Verifies a Keygate-Signature header over body (a string); returns {ok, t, why}. */
function verify(secret, header, body, nowS = Math.floor(Date.now() / 1000)) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header || '');
  if (!m) return { ok: false, why: `malformed header ${header}` };
  const t = Number(m[1]);
  const want = crypto.createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  const got = Buffer.from(m[2], 'hex');
  if (!crypto.timingSafeEqual(want, got)) return { ok: false, t, why: 'signature mismatch' };
  if (Math.abs(nowS - t) > REPLAY_WINDOW_S) return { ok: false, t, why: `t ${t} outside the window` };
  return { ok: true, t };
}

/* Starts a receiver with `secret`; resolves to {url, got, answer, close}.  got: every request
 * as {at (ms), headers, body, json, verified}. */
function startReceiver(secret, path = '/hook') {
  const got = [];
  const hanging = new Set();
  const r = { got, answer: () => 200 };
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json;
      try { json = JSON.parse(body); } catch { json = undefined; }
      const v = verify(secret, req.headers['keygate-signature'], body);
      const entry = { at: Date.now(), method: req.method, url: req.url, headers: req.headers, body, json, verified: v };
      got.push(entry);
      const a = r.answer(entry);
      if (a === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      res.writeHead(a, { 'Content-Type': 'text/plain' });
      res.end(a >= 200 && a < 300 ? 'ok' : 'no');
    });
  });
  return new Promise((resolve, reject) => {
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      r.url = `http://127.0.0.1:${srv.address().port}${path}`;
      r.close = () => new Promise((done) => {
        for (const res of hanging) res.destroy();
        srv.closeAllConnections();
        srv.close(() => done());
      });
      resolve(r);
    });
  });
}

module.exports = { startReceiver, verify, REPLAY_WINDOW_S };
