'use strict';
// Slow clients (issue 13, point 3): deadlines, not idle timers.
//   (a) --header-timeout is a deadline from the request's first byte (the first request:
//       from accept) to the end of its headers: a byte or a header line a second does not
//       keep a connection open past it, on a new connection or a kept-alive one;
//   (b) a body slower than --min-body-rate is cut (after a grace of about 2 s), while a body
//       at a fair rate is read;
//   (c) a trickle from several loopback addresses at once, each at its per-address limit,
//       leaves fresh clients served within 1 s, and every trickling connection is cut at
//       the header deadline.
// Cut connections get no answer (the client would not be reading it).  Every wait bounded.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const h = require('./helpers.js');

const HEADER_TIMEOUT = 3; // s
const IDLE_TIMEOUT = 20;  // s: far above the deadlines, so an idle timer cannot pass for them
const RATE = 1024;        // B/s
const PER_IP = 30;

let srv;
const sockets = new Set();

before(async () => {
  srv = await h.startServer({
    args: ['--header-timeout', String(HEADER_TIMEOUT), '--idle-timeout', String(IDLE_TIMEOUT),
      '--min-body-rate', String(RATE), '--max-conns', '1000', '--max-conns-per-ip', String(PER_IP)],
  });
});

after(async () => {
  for (const s of sockets) s.destroy();
  if (srv) await srv.stop();
});

/* A connection that records when it was closed and how many bytes came back. */
function open(localAddress) {
  return new Promise((resolve) => {
    const s = net.connect({ port: srv.port, host: '127.0.0.1', localAddress });
    sockets.add(s);
    s.st = { t0: Date.now(), connected: false, closed: false, closedAt: 0, bytes: 0, data: '' };
    const stuck = setTimeout(() => { s.destroy(); }, 5000);
    s.on('connect', () => { clearTimeout(stuck); s.st.connected = true; resolve(s); });
    s.on('data', (d) => { s.st.bytes += d.length; s.st.data += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(stuck); s.st.closed = true; s.st.closedAt = Date.now(); resolve(s); });
  });
}

/* Writes `chunk` every `everyMs` until the socket closes or `maxMs` passes; resolves when
 * the server closed it (ms after `from`), or null. */
async function trickle(s, chunk, everyMs, maxMs, from = s.st.t0) {
  const end = Date.now() + maxMs;
  while (!s.st.closed && Date.now() < end) {
    if (s.writable) s.write(chunk);
    await h.sleep(everyMs);
  }
  return s.st.closed ? s.st.closedAt - from : null;
}

function healthz(localAddress) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: srv.port, path: '/healthz', agent: false, localAddress, headers: { Connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - t0 }));
    });
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ error, ms: Date.now() - t0 }));
  });
}

async function bindable(addr) {
  const s = await open(addr);
  const ok = s.st.connected;
  s.destroy();
  return ok;
}

test('(a) a header trickled a byte or a line a second is cut at the header deadline', async () => {
  const limit = HEADER_TIMEOUT * 1000;
  const [bytes, lines, second] = await Promise.all([
    (async () => {
      const s = await open();
      s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      return { s, at: await trickle(s, 'a', 1000, limit + 5000) };
    })(),
    (async () => {
      const s = await open();
      s.write('GET /healthz HTTP/1.1\r\n');
      return { s, at: await trickle(s, 'X-Line: 1\r\n', 1000, limit + 5000) };
    })(),
    (async () => { // a kept-alive connection: the deadline runs from the next request's first byte
      const s = await open();
      s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await h.sleep(1500);
      const answered = s.st.data.startsWith('HTTP/1.1 200');
      const bytes0 = s.st.bytes;
      const from = Date.now();
      s.write('GET /healthz?x=');
      const at = await trickle(s, 'a', 1000, limit + 5000, from);
      return { s, at, answered, extra: s.st.bytes - bytes0 };
    })(),
  ]);
  for (const [name, r] of [['a byte a second', bytes], ['a header line a second', lines], ['second request, a byte a second', second]]) {
    assert.ok(r.at !== null, `${name}: still open ${limit + 5000} ms on (header deadline ${limit} ms)`);
    assert.ok(r.at >= limit - 500 && r.at <= limit + 1500, `${name}: cut after ${r.at} ms; the deadline is ${limit} ms`);
  }
  assert.ok(second.answered, 'the first request on the kept-alive connection is answered');
  assert.equal(bytes.s.st.bytes, 0, 'a cut request gets no answer');
  assert.equal(second.extra, 0, 'a cut request gets no answer');
});

test('(b) a body slower than --min-body-rate is cut; a body at a fair rate is read', async () => {
  const head = (len) => 'POST /oauth/v2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
    `Content-Length: ${len}\r\nConnection: close\r\n\r\n`;
  const [slow, stalled, fair] = await Promise.all([
    (async () => { // 100 B/s against a minimum of 1024 B/s
      const s = await open();
      s.write(head(10000));
      return trickle(s, 'a'.repeat(100), 1000, 10000);
    })(),
    (async () => { // a body that stops
      const s = await open();
      s.write(`${head(100)}grant_type=client_`);
      await new Promise((r) => { const t = setInterval(() => { if (s.st.closed) { clearInterval(t); r(); } }, 50); setTimeout(() => { clearInterval(t); r(); }, 10000); });
      return s.st.closed ? s.st.closedAt - s.st.t0 : null;
    })(),
    (async () => { // 3000 bytes at about 2000 B/s: above the minimum, so read and answered
      const s = await open();
      const body = `grant_type=client_credentials&pad=${'x'.repeat(3000 - 35)}`;
      s.write(head(body.length));
      for (let i = 0; i < body.length; i += 200) { s.write(body.slice(i, i + 200)); await h.sleep(100); }
      for (let i = 0; i < 60 && !s.st.closed; i++) await h.sleep(50);
      return s.st.data;
    })(),
  ]);
  assert.ok(slow !== null && slow <= 6000, `a 100 B/s body should be cut within a few seconds (grace 2 s), not ${slow === null ? 'kept open 10 s' : `after ${slow} ms`}`);
  assert.ok(stalled !== null && stalled <= 4500, `a stalled body should be cut after the grace, not ${stalled === null ? 'kept open 10 s' : `after ${stalled} ms`}`);
  assert.match(fair, /^HTTP\/1\.1 401 /, `a body at 2 kB/s is read and answered (no credentials: 401): ${fair.slice(0, 120)}`);
});

test('(b2) a chunked body of chunk extensions, however fast, buys no time: cut at the rate', async () => {
  const s = await open();
  s.write('POST /oauth/v2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
    'Transfer-Encoding: chunked\r\n\r\n1;ext=');
  // 2 kB/s of extension bytes: twice the minimum rate in bytes, but no body byte at all
  const cut = await trickle(s, 'x'.repeat(200), 100, 10000);
  assert.ok(cut !== null && cut <= 4500, `cut after the grace, not ${cut === null ? 'kept open 10 s' : `after ${cut} ms`}`);
});

test('(b3) a client that sends requests, shuts its side and reads nothing costs no CPU while it waits', async () => {
  // The server busy-looped (EPOLLIN firing on the client's EOF while its answers could not be
  // written) only when the last answers fit under its 256 KiB queue after the socket buffers
  // had filled: on this machine kind, around 10,000 pipelined /healthz requests.  A sweep of
  // counts finds that window wherever the kernel's buffers put it.
  const pid = srv.proc.pid;
  const cpu = () => { // utime + stime of the server, in clock ticks (10 ms)
    const f = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(parts[11]) + Number(parts[12]);
  };
  const busy = [];
  for (let n = 6000; n <= 14000; n += 250) {
    const s = await open();
    s.pause(); // read nothing: the answers pile up in the socket buffers
    s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(n));
    s.end(); // EOF from the client, answers still queued on the server
    await h.sleep(250);
    const c0 = cpu();
    await h.sleep(300);
    const used = cpu() - c0;
    s.destroy();
    if (used > 15) busy.push(`${n} requests: ${used * 10} ms of CPU in 300 ms`);
  }
  assert.deepEqual(busy, [], 'the server spun on a client that reads nothing');
});

test('(c) a trickle from several addresses leaves fresh clients served, and is cut at the deadline', async (t) => {
  const addrs = [];
  for (const a of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) if (await bindable(a)) addrs.push(a);
  if (addrs.length < 2) { t.skip('no extra loopback source addresses here'); return; }
  const attack = [];
  for (const a of addrs) {
    const batch = [];
    for (let i = 0; i < PER_IP + 10; i++) batch.push(open(a));
    attack.push(...await Promise.all(batch));
  }
  for (const s of attack) if (!s.st.closed) s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  const timer = setInterval(() => { for (const s of attack) if (!s.st.closed && s.writable) s.write('a'); }, 1000);
  try {
    await h.sleep(300);
    const refused = attack.filter((s) => s.st.closed).length;
    assert.ok(refused >= addrs.length * 10, `each address is held to ${PER_IP} connections (${refused} of ${attack.length} refused)`);
    const lat = [];
    for (let i = 0; i < 6; i++) {
      const r = await healthz();
      assert.ok(!r.error && r.status === 200 && r.ms < 1000, `a fresh client during the trickle: ${r.error ? r.error.message : r.status} after ${r.ms} ms`);
      lat.push(r.ms);
      await h.sleep(400);
    }
    const deadline = HEADER_TIMEOUT * 1000 + 1500;
    const end = Math.max(...attack.map((s) => s.st.t0)) + deadline + 1000; // the last one opened
    while (Date.now() < end && attack.some((s) => !s.st.closed)) await h.sleep(100);
    const open_ = attack.filter((s) => !s.st.closed).length;
    assert.equal(open_, 0, `every trickling connection is cut at the header deadline (${open_} still open)`);
    const late = attack.filter((s) => s.st.closedAt - s.st.t0 > deadline).length;
    assert.equal(late, 0, `${late} trickling connections outlived the header deadline`);
    t.diagnostic(`${attack.length} trickling connections from ${addrs.length} addresses; fresh /healthz in max ${Math.max(...lat)} ms`);
  } finally {
    clearInterval(timer);
    for (const s of attack) s.destroy();
  }
});
