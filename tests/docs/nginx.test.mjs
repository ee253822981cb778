// examples/nginx.conf as a reader tries it (issue 16): started the way its top comment and the
// README say (`nginx -p PREFIX/ -c examples/nginx.conf -e stderr`, daemonised), by a user who
// is not root (when the test runs as root, as nobody), in front of a keygate started as the
// file's comment says; the stand-in API answers for an allowed request, nginx refuses the
// others, and /metrics is not reachable through it.  Only the addresses are changed.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/docs/nginx.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, h, which } from './lib.mjs';
import { waitForPort } from './readme.mjs';
import { principal } from '../standards/lib.mjs';
import { curl } from '../standards/proxies.mjs';

const NOBODY = 65534;

describe('examples/nginx.conf, run by a user who is not root', () => {
  const nginx = which('nginx');
  let dir;
  let srv;
  let ports;
  let reader;
  let asUser; // argv prefix: run as nobody when we are root
  const url = (p) => `http://127.0.0.1:${ports.nginx}${p}`;
  const nginxArgs = () => ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr'];

  before(async () => {
    assert.ok(nginx, 'nginx is not installed (nginx-light; scripts/setup.sh test installs it)');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-nginx-example-'));
    srv = await h.startServer({
      args: ['--policy', path.join(ROOT, 'examples/policy.txt'), '--gate-headers', 'original', '--trusted-proxy', '127.0.0.1'],
    });
    ports = { nginx: await h.freePort(), api: await h.freePort() };
    const conf = fs.readFileSync(path.join(ROOT, 'examples/nginx.conf'), 'utf8')
      .split('127.0.0.1:8080').join(`127.0.0.1:${srv.port}`)
      .split('127.0.0.1:8000').join(`127.0.0.1:${ports.nginx}`)
      .split('127.0.0.1:9000').join(`127.0.0.1:${ports.api}`);
    fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
    asUser = [];
    if (process.getuid() === 0) {
      fs.chownSync(dir, NOBODY, NOBODY);
      fs.chownSync(path.join(dir, 'nginx.conf'), NOBODY, NOBODY);
      asUser = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
    }
    const admin = await h.bootstrap(srv, 'nginx example admin');
    reader = await principal(srv.base, admin.access, 'example_orders_reader', ['orders.read']);
  });

  after(async () => {
    if (dir && fs.existsSync(path.join(dir, 'nginx.pid'))) {
      runNginx([...nginxArgs(), '-s', 'stop']);
      for (let i = 0; i < 50 && fs.existsSync(path.join(dir, 'nginx.pid')); i++) await h.sleep(100);
    }
    if (srv) await srv.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /* nginx ARGS as the test's user (nobody under root).  Its output goes to a file: the
   * daemon keeps the terminal (stderr) it was started with, so a pipe would stay open. */
  function runNginx(args) {
    const argv = [...asUser, nginx, ...args];
    const outFile = path.join(os.tmpdir(), `keygate-nginx-out-${process.pid}`);
    const fd = fs.openSync(outFile, 'w');
    try {
      const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], timeout: 20000, cwd: dir });
      return { status: r.status, output: fs.readFileSync(outFile, 'utf8') };
    } finally {
      fs.closeSync(fd);
      fs.rmSync(outFile, { force: true });
    }
  }

  test('starts as the README says, without a word, and keeps its files under the prefix', async () => {
    const r = runNginx(nginxArgs());
    assert.equal(r.status, 0, r.output);
    assert.equal(r.output, '', 'no warning, no alert');
    assert.ok(await waitForPort(ports.nginx), 'nginx listens');
    assert.ok(await waitForPort(ports.api), 'the stand-in API listens');
    assert.ok(fs.existsSync(path.join(dir, 'nginx.pid')), 'the pid file is under the prefix');
    const pid = Number(fs.readFileSync(path.join(dir, 'nginx.pid'), 'utf8'));
    if (asUser.length) assert.equal(fs.statSync(`/proc/${pid}`).uid, NOBODY, 'the master runs as nobody');
  });

  test('an allowed request reaches the stand-in API, which learns who called', async () => {
    const r = await curl(url('/api/orders/42'), { token: reader.access });
    assert.equal(r.status, 200, `${r.status} ${r.body}`);
    assert.deepEqual(r.json, {
      api: 'stand-in', method: 'GET', uri: '/api/orders/42', clientId: reader.clientId, role: 'example_orders_reader',
    });
  });

  test('no token: 401 with keygate\'s challenge; a route the role lacks: 403; elsewhere 404', async () => {
    const none = await curl(url('/api/orders/42'));
    assert.equal(none.status, 401);
    assert.match(none.headers['www-authenticate'] || '', /^Bearer\b.*error="invalid_token"/);
    const denied = await curl(url('/api/orders'), { method: 'POST', token: reader.access, data: '{}' });
    assert.equal(denied.status, 403);
    const elsewhere = await curl(url('/healthz'));
    assert.equal(elsewhere.status, 404);
  });

  test('/metrics is refused from outside; the OAuth endpoints are passed on', async () => {
    const m = await curl(url('/metrics'));
    assert.equal(m.status, 403);
    const t = await curl(url('/oauth/v2/token'), {
      method: 'POST', headers: { Authorization: h.basic(reader.clientId, reader.clientSecret) },
      data: 'grant_type=client_credentials', contentType: 'application/x-www-form-urlencoded',
    });
    assert.equal(t.status, 200, t.body);
    assert.equal(t.json.token_type, 'Bearer');
  });

  test('stops as the README says', async () => {
    const r = runNginx([...nginxArgs(), '-s', 'stop']);
    assert.equal(r.status, 0, r.output);
    for (let i = 0; i < 50 && fs.existsSync(path.join(dir, 'nginx.pid')); i++) await h.sleep(100);
    assert.ok(!fs.existsSync(path.join(dir, 'nginx.pid')), 'nginx is gone');
  });
});
