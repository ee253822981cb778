// make install and the systemd unit (issue 16, "Install like a service").
//
//   - `make install DESTDIR=tmp PREFIX=/usr/local` writes the binary, the man page (when the
//     tree has doc/keygate.1) and the examples, with sensible modes, and nothing else; the
//     installed binary runs; `make uninstall` takes every file away again.
//   - examples/keygate.service passes `systemd-analyze verify` without a word, and
//     `systemd-analyze security` rates it at most 2.0 ("OK").
//   - The unit's ExecStart, run without systemd but as systemd would (STATE_DIRECTORY set,
//     stdout not a terminal, the unit's UMask), keeps everything in the state directory,
//     writes the first password to a 0600 file there and never to the log, and reloads the
//     policy on the unit's ExecReload signal.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/docs/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, h, which } from './lib.mjs';

const { sleep, freePort } = h;
const UNIT = path.join(ROOT, 'examples/keygate.service');
/* The build folder of the binary under test when it is this tree's (build, build/asan), or
 * null: make install then installs what `make` builds. */
const IN_TREE = (() => {
  const b = path.relative(ROOT, path.dirname(h.BIN));
  return b && !b.startsWith('..') && !path.isAbsolute(b) && path.basename(h.BIN) === 'keygate' ? b : null;
})();

/* Runs make in the tree (quietly), on the build that holds the binary under test (build/asan
 * under make check-asan); asserts it succeeded.  The outer make's flags stay out: this is a
 * make of its own, as a person would type it. */
function make(args) {
  const env = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES']) delete env[k];
  const r = spawnSync('make', ['--no-print-directory', '-s', ...(IN_TREE ? [`BUILD=${IN_TREE}`] : []), ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 300000 });
  assert.equal(r.status, 0, `make ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/* Every file and folder below dir: {relative path: mode bits}. */
function tree(dir) {
  const out = {};
  for (const e of fs.readdirSync(dir, { recursive: true })) {
    out[e] = fs.lstatSync(path.join(dir, e)).mode & 0o7777;
  }
  return out;
}

/* The unit's settings: {key: [values in order]} (comments and sections left out; a line
 * ending in `\` goes on to the next). */
function unitSettings(text) {
  const s = {};
  for (const line of text.replace(/\\\n\s*/g, ' ').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) (s[m[1]] ??= []).push(m[2]);
  }
  return s;
}

describe('make install / make uninstall', () => {
  let dest;
  before(() => {
    dest = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-install-'));
    make(['install', `DESTDIR=${dest}`, 'PREFIX=/usr/local']);
  });
  after(() => { if (dest) fs.rmSync(dest, { recursive: true, force: true }); });

  test('the binary, the man page, the README and the examples, with sensible modes', () => {
    const files = tree(dest);
    const doc = 'usr/local/share/doc/keygate';
    const want = {
      'usr/local/bin/keygate': 0o755,
      [`${doc}/README.md`]: 0o644,
    };
    for (const f of fs.readdirSync(path.join(ROOT, 'examples'))) want[`${doc}/examples/${f}`] = 0o644;
    const man = path.join(ROOT, 'doc/keygate.1');
    if (fs.existsSync(man)) want['usr/local/share/man/man1/keygate.1'] = 0o644;
    else console.log('# doc/keygate.1 is not in this tree yet: no man page installed');
    const got = Object.fromEntries(Object.entries(files).filter(([f]) => fs.statSync(path.join(dest, f)).isFile()));
    assert.deepEqual(got, want, 'exactly these files, with these modes');
    for (const [f, mode] of Object.entries(files)) {
      if (fs.statSync(path.join(dest, f)).isDirectory()) assert.equal(mode, 0o755, `${f}/ is 0755`);
    }
    if (IN_TREE) {
      assert.ok(fs.readFileSync(path.join(dest, 'usr/local/bin/keygate')).equals(fs.readFileSync(h.BIN)),
        'the installed binary is the one built');
    }
    for (const f of fs.readdirSync(path.join(ROOT, 'examples'))) {
      assert.equal(fs.readFileSync(path.join(dest, doc, 'examples', f), 'utf8'),
        fs.readFileSync(path.join(ROOT, 'examples', f), 'utf8'), `examples/${f} installed as it is`);
    }
  });

  test('the installed binary runs, and creates nothing where it is run', () => {
    const bin = path.join(dest, 'usr/local/bin/keygate');
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-installed-run-'));
    try {
      const env = { ...process.env, HOME: cwd, XDG_DATA_HOME: path.join(cwd, 'xdg') };
      delete env.KEYGATE_DB;
      // --help works on every version; --version once the CLI has it (issue 16).
      const help = spawnSync(bin, ['--help'], { cwd, env, encoding: 'utf8', timeout: 10000 });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /serve/);
      assert.deepEqual(fs.readdirSync(cwd), [], '--help creates no database');
      const version = spawnSync(bin, ['--version'], { cwd, env, encoding: 'utf8', timeout: 10000 });
      if (version.status === 0) {
        assert.match(version.stdout, /^keygate \S+/);
        assert.deepEqual(fs.readdirSync(cwd), [], '--version creates no database');
      } else {
        console.log('# keygate --version is not in this tree yet');
      }
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('the man page is doc/keygate.1 and renders without a warning', (t) => {
    const src = path.join(ROOT, 'doc/keygate.1');
    if (!fs.existsSync(src)) return t.skip('doc/keygate.1 is not in this tree yet');
    const page = path.join(dest, 'usr/local/share/man/man1/keygate.1');
    assert.equal(fs.readFileSync(page, 'utf8'), fs.readFileSync(src, 'utf8'));
    if (!which('groff')) return t.skip('groff is not installed (groff-base)');
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', page], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', `groff warns about the man page:\n${r.stderr}`);
    // man finds it where make install put it.
    if (which('man')) {
      const m = spawnSync('man', ['-P', 'cat', 'keygate'], {
        encoding: 'utf8', timeout: 20000, env: { ...process.env, MANPATH: path.join(dest, 'usr/local/share/man'), MANWIDTH: '80' },
      });
      assert.equal(m.status, 0, m.stderr);
      assert.match(m.stdout, /keygate/);
    }
  });

  test('make uninstall takes every file away', () => {
    make(['uninstall', `DESTDIR=${dest}`, 'PREFIX=/usr/local']);
    const left = Object.keys(tree(dest)).filter((f) => fs.statSync(path.join(dest, f)).isFile());
    assert.deepEqual(left, []);
    assert.ok(!fs.existsSync(path.join(dest, 'usr/local/share/doc/keygate')), 'its doc folder too');
  });
});

describe('examples/keygate.service', () => {
  const text = fs.readFileSync(UNIT, 'utf8');
  const s = unitSettings(text);
  let dir;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-unit-')); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  test('has the settings the README promises', () => {
    for (const [k, v] of [['DynamicUser', 'yes'], ['StateDirectory', 'keygate'], ['ProtectSystem', 'strict'],
      ['NoNewPrivileges', 'yes'], ['PrivateTmp', 'yes'], ['ProtectHome', 'yes'], ['PrivateDevices', 'yes'],
      ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'], ['CapabilityBoundingSet', ''],
      ['SystemCallFilter', '@system-service'], ['MemoryDenyWriteExecute', 'yes'], ['LockPersonality', 'yes'],
      ['RestrictNamespaces', 'yes'], ['UMask', '0077'], ['Restart', 'on-failure'],
      ['ExecReload', '/bin/kill -HUP $MAINPID']]) {
      assert.ok((s[k] || []).includes(v), `${k}=${v}`);
    }
    assert.equal(s.ExecStart.length, 1);
    assert.match(s.ExecStart[0], /^\/usr\/local\/bin\/keygate serve --listen 127\.0\.0\.1:8080 /);
    assert.match(s.ExecStart[0], / --db \/var\/lib\/keygate\/keygate\.db /);
  });

  // The binary ExecStart names must exist for verify: the unit is checked with ExecStart
  // pointing at the binary under test, everything else as shipped.  The man page its
  // Documentation= names is looked up only when the tree has it (MANPATH: the staged install).
  test('systemd-analyze verify says nothing about it', (t) => {
    if (!which('systemd-analyze')) return t.skip('systemd-analyze is not installed (systemd)');
    const unit = path.join(dir, 'keygate.service');
    fs.writeFileSync(unit, text.split('/usr/local/bin/keygate').join(h.BIN));
    const man = fs.existsSync(path.join(ROOT, 'doc/keygate.1'));
    const env = { ...process.env };
    if (man) {
      fs.mkdirSync(path.join(dir, 'man/man1'), { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'doc/keygate.1'), path.join(dir, 'man/man1/keygate.1'));
      env.MANPATH = path.join(dir, 'man');
    } else {
      console.log('# doc/keygate.1 is not in this tree yet: verify --man=no');
    }
    const r = spawnSync('systemd-analyze', ['verify', ...(man ? [] : ['--man=no']), unit], { encoding: 'utf8', env, timeout: 60000 });
    const said = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /keygate/.test(l));
    assert.deepEqual(said, [], `systemd-analyze verify:\n${r.stdout}${r.stderr}`);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  test('systemd-analyze security rates it at most 2.0', (t) => {
    if (!which('systemd-analyze')) return t.skip('systemd-analyze is not installed (systemd)');
    const unit = path.join(dir, 'keygate.service');
    fs.writeFileSync(unit, text.split('/usr/local/bin/keygate').join(h.BIN));
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', unit], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
});

/*
 * Runs the unit's ExecStart as systemd would, without systemd: /var/lib/keygate is a temp
 * state directory (STATE_DIRECTORY names it), /etc/keygate/policy.txt is examples/policy.txt,
 * port 8080 a free one; stdout and stderr are pipes (the journal), umask the unit's UMask.
 * Returns {proc, port, state, log(), stop()}.
 */
async function startAsUnit(dir, execStart, env = {}) {
  const state = path.join(dir, 'state');
  fs.mkdirSync(state, { mode: 0o700 });
  const port = await freePort();
  const argv = execStart.split(/\s+/)
    .map((a) => a.replace('/usr/local/bin/keygate', h.BIN).replace('/var/lib/keygate', state)
      .replace('/etc/keygate/policy.txt', path.join(ROOT, 'examples/policy.txt'))
      .replace('127.0.0.1:8080', `127.0.0.1:${port}`));
  const cwd = path.join(dir, 'cwd');
  fs.mkdirSync(cwd);
  const e = { ...process.env, STATE_DIRECTORY: state, HOME: path.join(dir, 'home'), ...env };
  delete e.KEYGATE_DB;
  delete e.XDG_DATA_HOME;
  // The unit's UMask= through a shell: node cannot set a child's umask.
  const proc = spawn('/bin/sh', ['-c', 'umask 0077 && exec "$@"', 'sh', ...argv], { cwd, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  let exited = null;
  const exit = new Promise((r) => proc.on('exit', (code, sig) => { exited = { code, sig }; r(); }));
  const handle = {
    proc, port, state, cwd, log: () => log,
    async stop() {
      if (exited) return;
      proc.kill('SIGTERM');
      await Promise.race([exit, h.unrefSleep(5000)]);
      if (!exited) proc.kill('SIGKILL');
    },
  };
  for (let i = 0; i < 200 && !exited; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
      await r.text();
      if (r.status === 200 && /first start|users exist/.test(log)) return handle;
    } catch { /* not yet */ }
    await sleep(50);
  }
  await handle.stop();
  throw new Error(`keygate as the unit starts it did not come up (exit ${JSON.stringify(exited)}):\n${argv.join(' ')}\n${log}`);
}

describe('the unit\'s ExecStart, run as systemd would', () => {
  const s = unitSettings(fs.readFileSync(UNIT, 'utf8'));
  let dir;
  let srv;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-asunit-'));
    srv = await startAsUnit(dir, s.ExecStart[0]);
  });
  after(async () => {
    if (srv) await srv.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('everything lands in the state directory, for its user alone; the password only in a file', async () => {
    const files = fs.readdirSync(srv.state).sort();
    for (const f of ['keygate.db', 'hash.key', 'signing.key', 'admin-password']) assert.ok(files.includes(f), `${f} in ${files}`);
    for (const f of files) {
      const mode = fs.statSync(path.join(srv.state, f)).mode & 0o777;
      assert.equal(mode & 0o077, 0, `${f} is ${mode.toString(8)}: for keygate's user alone`);
    }
    assert.deepEqual(fs.readdirSync(srv.cwd), [], 'nothing in the working directory');
    const password = fs.readFileSync(path.join(srv.state, 'admin-password'), 'utf8').trim();
    assert.ok(password.length >= 8);
    assert.ok(srv.log().includes(path.join(srv.state, 'admin-password')), 'the log names the file');
    assert.ok(!srv.log().includes(password), 'the log never holds the password');
    const r = await fetch(`http://127.0.0.1:${srv.port}/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'admin@localhost', password }),
    });
    await r.text();
    assert.equal(r.status, 200, 'the password in the file signs in');
  });

  test('ExecReload (SIGHUP) reloads the policy and keygate goes on serving', async () => {
    const before = srv.log().length;
    srv.proc.kill('SIGHUP'); // the shell exec'd keygate: this is $MAINPID
    for (let i = 0; i < 100 && !/polic/i.test(srv.log().slice(before)); i++) await sleep(50);
    assert.match(srv.log().slice(before), /polic/i, `a log line about the reload:\n${srv.log().slice(before)}`);
    const r = await fetch(`http://127.0.0.1:${srv.port}/healthz`);
    assert.equal(r.status, 200);
  });
});

// Depends on the CLI of issue 16 (default database $STATE_DIRECTORY/keygate.db): a unit
// without --db keeps its data in the state directory too, and nothing in the working one.
describe('without --db, under systemd the database is $STATE_DIRECTORY/keygate.db', () => {
  let dir;
  let srv;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-statedir-'));
    const s = unitSettings(fs.readFileSync(UNIT, 'utf8'));
    srv = await startAsUnit(dir, s.ExecStart[0].replace(/ --db \S+/, ''));
  });
  after(async () => {
    if (srv) await srv.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the database and keys are in STATE_DIRECTORY, nothing in the working directory', () => {
    const files = fs.readdirSync(srv.state);
    assert.ok(files.includes('keygate.db'), `keygate.db in $STATE_DIRECTORY: ${files}; cwd: ${fs.readdirSync(srv.cwd)}`);
    assert.ok(files.includes('signing.key'), `signing.key in $STATE_DIRECTORY: ${files}`);
    assert.deepEqual(fs.readdirSync(srv.cwd), []);
  });
});
