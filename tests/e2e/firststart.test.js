'use strict';
// The first start's admin@localhost password never reaches the log stream: without a terminal
// it goes to a new 0600 file beside the database (only its path is logged), or it is taken
// from --admin-password-file / KEYGATE_ADMIN_PASSWORD; and the user is made only once the
// server listens, so a start on a busy port makes no user, exits 1 and says how to choose
// another port.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers.js');

const servers = [];
const dirs = [];
after(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-first-'));
  dirs.push(d);
  return d;
}

async function start(opts = {}) {
  const srv = await h.startServer(opts);
  servers.push(srv);
  return srv;
}

async function login(base, pw) {
  const r = await fetch(`${base}/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'admin@localhost', password: pw }), signal: AbortSignal.timeout(10000),
  });
  await r.text();
  return r.status;
}

function assertNotInOutput(srv, pw) {
  assert.ok(!srv.stdout.includes(pw), `the password is on stdout:\n${srv.stdout}`);
  assert.ok(!srv.stderr.includes(pw), `the password is on stderr:\n${srv.stderr}`);
}

test('not a terminal: the password goes to a new 0600 file named in the log, never to stdout or stderr', async () => {
  const srv = await start();
  const file = path.join(srv.dir, 'admin-password');
  const st = fs.lstatSync(file);
  assert.ok(st.isFile(), 'a regular file');
  assert.equal(st.mode & 0o777, 0o600, `mode ${(st.mode & 0o777).toString(8)}`);
  const pw = h.adminPassword(srv);
  assert.match(pw, /^[0-9A-Za-z]{24}$/);
  assertNotInOutput(srv, pw);
  assert.equal(srv.stdout, '', 'nothing on stdout');
  assert.equal(await login(srv.base, 'not-the-password'), 401);
  assert.equal(await login(srv.base, pw), 200, 'the password in the file signs in');
});

test('--admin-password-file and KEYGATE_ADMIN_PASSWORD give the password; no file is written', async () => {
  const dir = tmpDir();
  const given = path.join(dir, 'given');
  fs.writeFileSync(given, 'file-chosen-pw-1\n', { mode: 0o600 });
  const a = await start({ args: ['--admin-password-file', given] });
  assert.equal(await login(a.base, 'file-chosen-pw-1'), 200, a.stderr);
  assert.ok(!fs.existsSync(path.join(a.dir, 'admin-password')), 'no password file when one is given');
  assertNotInOutput(a, 'file-chosen-pw-1');
  assert.match(a.stderr, /with the password from --admin-password-file/);

  const b = await start({ env: { KEYGATE_ADMIN_PASSWORD: 'env-chosen-pw-22' } });
  assert.equal(await login(b.base, 'env-chosen-pw-22'), 200, b.stderr);
  assert.ok(!fs.existsSync(path.join(b.dir, 'admin-password')), 'no password file when one is given');
  assertNotInOutput(b, 'env-chosen-pw-22');

  // A password file that cannot be read, or a too-short password, stops the start.
  for (const [args, env] of [[['--admin-password-file', path.join(dir, 'missing')], {}], [[], { KEYGATE_ADMIN_PASSWORD: 'short' }]]) {
    await assert.rejects(h.startServer({ args, env }), /did not become ready/);
  }
});

test('an existing admin-password file (or a symlink there) is never overwritten or followed', async () => {
  const dir = tmpDir();
  const target = path.join(dir, 'elsewhere');
  fs.writeFileSync(target, 'keep me\n');
  fs.symlinkSync(target, path.join(dir, 'admin-password'));
  const srv = await start({ dir });
  assert.equal(fs.readFileSync(target, 'utf8'), 'keep me\n', 'the symlink target is untouched');
  assert.match(srv.stderr, /admin-password exists/, srv.stderr);
  assert.equal(srv.stdout, '');
});

/* Runs keygate serve on `port` and waits (≤ 10 s) for it to exit. */
function runToExit(dir, port) {
  return new Promise((resolve) => {
    const p = spawn(h.BIN, ['--db', path.join(dir, 'keygate.db'), 'serve', '--listen', `127.0.0.1:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); }, 10000);
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

test('a busy port: exit non-zero naming the port, no user made; a later start still hands over a first password', async () => {
  const dir = tmpDir();
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  const { port } = blocker.address();
  let r;
  try {
    r = await runToExit(dir, port);
  } finally {
    await new Promise((res) => blocker.close(res));
  }
  assert.equal(r.signal, null, `exited by itself: ${JSON.stringify(r)}`);
  assert.equal(r.code, 1, 'exit status 1');
  assert.ok(r.stderr.includes(`cannot listen on 127.0.0.1:${port}: the address is in use; choose another with ` +
    '--listen 127.0.0.1:PORT (make run PORT=9090)'), `the log names the port and how to choose another:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr + r.stdout, /created user|password:/, 'no user made');
  assert.ok(!fs.existsSync(path.join(dir, 'admin-password')), 'no password file');
  assert.deepEqual(h.cliJson(path.join(dir, 'keygate.db'), ['user', 'list', '--json']), [], 'no user in the database');

  const srv = await start({ dir });
  assert.match(srv.stderr, /first start: created user admin@localhost/, 'the first user is made now');
  assert.equal(await login(srv.base, h.adminPassword(srv)), 200, 'and its password signs in');
});
