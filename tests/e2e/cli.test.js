'use strict';
// The command line as an operator meets it (issue 16): --version, --help for every command
// (listing every option, the same as doc/keygate.1), usage errors that name what is wrong with
// exit status 2 and create nothing, where the database lives by default and how --help says
// so, token show / user list / audit list / token list / role list as aligned tables and as
// --json, errors that name their subject, and user reset-password signing in on a server.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers.js');

const ROOT = path.resolve(__dirname, '../..');
const VERSION = /#define KG_VERSION "([^"]+)"/.exec(fs.readFileSync(path.join(ROOT, 'src/base/version.h'), 'utf8'))[1];
const MAN = fs.readFileSync(path.join(ROOT, 'doc/keygate.1'), 'utf8');

/* Every command the issue names; the help must offer exactly these. */
const COMMANDS = [
  'serve', 'token create', 'token list', 'token show', 'token revoke', 'token rotate', 'token update', 'token usage',
  'token secret add', 'token secret list', 'token secret delete', 'role create', 'role list',
  'role grant-privilege', 'role revoke-privilege', 'role grant-role', 'user create', 'user list',
  'user reset-password', 'audit list', 'keys rotate',
];
const GLOBAL_OPTIONS = ['--db', '--keys-dir', '--log-level', '--log-format', '--help'];

const dirs = [];
const servers = [];
after(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-cli-'));
  dirs.push(d);
  return d;
}

/* The environment without any of the variables that choose the database. */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of ['KEYGATE_DB', 'STATE_DIRECTORY', 'XDG_DATA_HOME', 'KEYGATE_ADMIN_PASSWORD']) delete env[k];
  return { ...env, ...extra };
}

/* Runs keygate with exactly these arguments (no --db added). */
function kg(args, { env = {}, cwd } = {}) {
  const r = spawnSync(h.BIN, args, { encoding: 'utf8', timeout: 20000, env: cleanEnv(env), cwd });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/* Every file and directory under dir (relative paths). */
function tree(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    out.push(e.name);
    if (e.isDirectory()) out.push(...tree(path.join(dir, e.name)).map((x) => `${e.name}/${x}`));
  }
  return out;
}

/* The option names listed one a line in a help section ("options:", "global options …:"). */
function helpOptions(text, title) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(title));
  if (start < 0) return [];
  const out = [];
  for (const l of lines.slice(start + 1)) {
    const m = /^ {2}(--[a-z-]+)/.exec(l);
    if (!m) break;
    out.push(m[1]);
  }
  return out;
}

/* doc/keygate.1's sections: {title: text}; a .SS title "keygate token show \fICLIENT_ID\fP"
 * becomes "token show". */
function manSections() {
  const out = {};
  const parts = MAN.split(/^\.S[HS] /m).slice(1);
  for (const p of parts) {
    const nl = p.indexOf('\n');
    let title = p.slice(0, nl).replace(/^"|"$/g, '').replace(/\\f[IPRB]/g, '').replace(/\\-/g, '-');
    const m = /^keygate ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*){0,2})/.exec(title);
    if (m) title = m[1];
    out[title] = p.slice(nl + 1);
  }
  return out;
}

/* The options a man section lists as .TP items. */
function manOptions(section) {
  const out = [];
  const lines = section.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    if (lines[i] !== '.TP') continue;
    const m = /^\.(?:B|BI|BR) \\-\\-([a-z\\-]+)/.exec(lines[i + 1]);
    if (m) out.push(`--${m[1].replace(/\\-/g, '-')}`);
  }
  return out;
}

const sorted = (xs) => [...new Set(xs)].sort();

test('--version and version print the version of src/base/version.h, exit 0', () => {
  for (const args of [['--version'], ['version']]) {
    const r = kg(args);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `keygate ${VERSION}\n`);
  }
  assert.match(MAN, new RegExp(`^\\.TH KEYGATE 1 \\S+ "keygate ${VERSION.replace(/\./g, '\\.')}"`, 'm'),
    'doc/keygate.1 .TH carries KG_VERSION');
});

test('--help of keygate, of each group and of every command lists every option, the same as doc/keygate.1', () => {
  const top = kg(['--help']);
  assert.equal(top.status, 0, top.stderr);
  assert.match(top.stdout, /^usage: keygate /);
  assert.match(top.stdout, /--version/);
  const listed = [...top.stdout.matchAll(/^ {2}keygate ([a-z]+(?: [a-z][a-z-]+){0,2})/gm)].map((m) => m[1])
    .filter((c) => c !== 'help' && c !== 'version');
  assert.deepEqual(listed, COMMANDS, 'keygate --help lists every command');
  assert.deepEqual(kg(['help']).stdout, top.stdout, 'keygate help is keygate --help');
  assert.deepEqual(kg(['-h']).stdout, top.stdout, '-h is --help');

  const man = manSections();
  assert.deepEqual(sorted(manOptions(man['GLOBAL OPTIONS'])), sorted([...GLOBAL_OPTIONS, '--version']),
    'the man page lists the global options');
  for (const group of new Set(COMMANDS.map((c) => c.split(' ')[0]))) {
    const g = kg([group, '--help']);
    assert.equal(g.status, 0, `keygate ${group} --help: ${g.stderr}`);
    for (const c of COMMANDS.filter((x) => x.split(' ')[0] === group)) {
      assert.ok(g.stdout.includes(`keygate ${c}`), `keygate ${group} --help lists ${c}:\n${g.stdout}`);
    }
  }
  for (const c of COMMANDS) {
    const words = c.split(' ');
    const r = kg([...words, '--help']);
    assert.equal(r.status, 0, `keygate ${c} --help: ${r.stderr}`);
    assert.equal(r.stderr, '', `keygate ${c} --help writes nothing to stderr`);
    assert.ok(r.stdout.startsWith(`usage: keygate ${c}`), `keygate ${c} --help starts with its usage:\n${r.stdout}`);
    assert.deepEqual(kg(['help', ...words]).stdout, r.stdout, `keygate help ${c}`);
    assert.deepEqual(kg([...words, '-h']).stdout, r.stdout, `keygate ${c} -h`);
    const own = helpOptions(r.stdout, 'options:');
    const global = helpOptions(r.stdout, 'global options');
    assert.deepEqual(global, GLOBAL_OPTIONS, `keygate ${c} --help lists the global options`);
    const usage = r.stdout.slice(0, r.stdout.indexOf('\n\n'));
    const inUsage = [...usage.matchAll(/--[a-z-]+/g)].map((m) => m[0]);
    assert.deepEqual(sorted(inUsage), sorted(own), `keygate ${c}: its usage line and its options list agree`);
    for (const o of own) {
      assert.match(r.stdout, new RegExp(`^ {2}${o}\\b.* {2}\\S`, 'm'), `keygate ${c}: ${o} has a line of help`);
    }
    assert.match(r.stdout, /^database: .+ \(.+\)$/m, `keygate ${c} --help says which database and why`);
    assert.ok(man[c] !== undefined, `doc/keygate.1 has a section for keygate ${c}`);
    assert.deepEqual(sorted(manOptions(man[c])), sorted(own), `doc/keygate.1 and keygate ${c} --help list the same options`);
  }
  const manCommands = Object.keys(man).filter((t) => /^[a-z]/.test(t) && t !== 'help');
  assert.deepEqual(sorted(manCommands), sorted(COMMANDS), 'the man page has no command the CLI lacks');
  for (const s of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'ENVIRONMENT', 'FILES', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO']) {
    assert.ok(man[s] !== undefined, `doc/keygate.1 has ${s}`);
  }
  for (const v of ['KEYGATE_DB', 'KEYGATE_ADMIN_PASSWORD', 'XDG_DATA_HOME', 'STATE_DIRECTORY']) {
    assert.match(man.ENVIRONMENT, new RegExp(`^\\.B ${v}$`, 'm'), `ENVIRONMENT names ${v}`);
  }
});

test('doc/keygate.1 renders without warnings', (t) => {
  const which = spawnSync('groff', ['--version'], { encoding: 'utf8' });
  if (which.error) { t.skip('groff is not installed'); return; }
  const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', path.join(ROOT, 'doc/keygate.1')], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'no warnings');
  assert.match(r.stdout, /keygate user reset-password/);
});

test('usage errors: exit 2, the message names what is wrong and where to look, and nothing is created', () => {
  const dir = tmpDir();
  const home = path.join(dir, 'home');
  const cases = [
    [['tokne'], /^keygate: unknown command 'tokne' \(did you mean 'token'\?\)\nsee 'keygate --help'\n$/],
    [['token', 'lst'], /^keygate token: unknown subcommand 'lst' \(did you mean 'list'\?\)\n/],
    [['token', 'list', '--jsn'], /^keygate token list: unknown option --jsn .*\nsee 'keygate token list --help'\n$/],
    [['token', 'list', '--json=yes'], /keygate token list: --json takes no value/],
    [['token', 'create', '--role'], /keygate token create: --role needs a value/],
    [['token', 'create', '--description', 'x'], /keygate token create: missing option --role NAME/],
    [['token', 'revoke'], /keygate token revoke: missing argument CLIENT_ID/],
    [['token', 'show', 'kgc_a', 'kgc_b'], /keygate token show: unexpected argument 'kgc_b'/],
    [['token'], /keygate token: missing subcommand \(create, list, show, revoke, rotate, update, usage, secret add, secret list, secret delete\)/],
    [['role', 'grant-privilege', 'ops'], /keygate role grant-privilege: missing argument PRIVILEGE/],
    [['user', 'reset-password'], /keygate user reset-password: missing argument EMAIL/],
    [['user', 'create', 'a@example.com'], /keygate user create: missing option --role/],
    [['--log-format', 'xml', 'token', 'list'], /--log-format is text or json, not 'xml'/],
    [['token', 'list', '--log-format', 'yaml'], /keygate token list: --log-format is text or json, not 'yaml'/],
    [['token', 'list', '--log-level', 'loud'], /--log-level is error, warning, notice, info or debug, not 'loud'/],
    [['token', 'list', '--db'], /keygate token list: --db needs a value/],
    [['serve', '--threads', 'many'], /keygate serve: --threads is a whole number from 1 to 256, not 'many'/],
    [['serve', '--listen', 'localhost:8080'], /keygate serve: --listen is an IP address and port/],
    [['serve', '--lisen', '127.0.0.1:1'], /keygate serve: unknown option --lisen \(did you mean '--listen'\?\)/],
    [['serve', 'now'], /keygate serve: unexpected argument 'now'/],
    [['audit', 'list', '--since', 'yesterday'], /keygate audit list: --since is a UTC time like/],
    [['audit', 'list', '--limit', '0'], /keygate audit list: --limit is a whole number from 1/],
    [['keys', 'rotate', '--alg', 'HS256'], /keygate keys rotate: --alg is EdDSA, ES256 or RS256, not 'HS256'/],
    [['--listen', '127.0.0.1:1', 'serve'], /keygate: unknown option --listen/],
    [['help', 'tokne'], /unknown command 'tokne'/],
    [['version', 'now'], /unexpected argument 'now'/],
    [[], /^usage: keygate/],
  ];
  for (const [args, re] of cases) {
    const r = kg(args, { cwd: dir, env: { HOME: home } });
    assert.equal(r.status, 2, `keygate ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, re, `keygate ${args.join(' ')}`);
    assert.equal(r.stdout, '', `keygate ${args.join(' ')}: nothing on stdout`);
  }
  for (const args of [['--help'], ['--version'], ['token', 'list', '--help'], ['serve', '--help'], ['help', 'audit', 'list']]) {
    assert.equal(kg(args, { cwd: dir, env: { HOME: home } }).status, 0, args.join(' '));
  }
  assert.deepEqual(tree(dir), [], 'neither the current directory nor $HOME got a file or directory');
});

test('the default database: $STATE_DIRECTORY, else $XDG_DATA_HOME/keygate, else ~/.local/share/keygate; --db and KEYGATE_DB first', () => {
  const dir = tmpDir();
  const home = path.join(dir, 'home');
  const xdg = path.join(dir, 'xdg');
  const state = path.join(dir, 'state');
  fs.mkdirSync(home);

  const cases = [
    [{ HOME: home }, path.join(home, '.local/share/keygate/keygate.db'), '(default: $HOME/.local/share/keygate)'],
    [{ HOME: home, XDG_DATA_HOME: xdg }, path.join(xdg, 'keygate/keygate.db'), '(default: $XDG_DATA_HOME/keygate)'],
    [{ HOME: home, XDG_DATA_HOME: 'relative/xdg' }, path.join(home, '.local/share/keygate/keygate.db'), '(default: $HOME/.local/share/keygate)'],
    [{ HOME: home, XDG_DATA_HOME: xdg, STATE_DIRECTORY: state }, path.join(state, 'keygate.db'), '(default under systemd: $STATE_DIRECTORY)'],
    [{ HOME: home, STATE_DIRECTORY: `${state}:${path.join(dir, 'second')}` }, path.join(state, 'keygate.db'), '(default under systemd: $STATE_DIRECTORY)'],
    [{ HOME: home, STATE_DIRECTORY: state, KEYGATE_DB: path.join(dir, 'env/k.db') }, path.join(dir, 'env/k.db'), '($KEYGATE_DB)'],
  ];
  const made = new Set();
  for (const [env, db, why] of cases) {
    const help = kg(['token', 'list', '--help'], { env, cwd: dir });
    assert.ok(help.stdout.includes(`database: ${db} ${why}\n`), `${JSON.stringify(env)}: --help says\n${help.stdout}`);
    assert.ok(help.stdout.includes(`keys:     ${path.dirname(db)} (beside the database)\n`), help.stdout);
    assert.equal(fs.existsSync(db), made.has(db), '--help made no database');
    if (made.has(db)) continue;
    made.add(db);

    const first = kg(['token', 'list'], { env, cwd: dir });
    assert.equal(first.status, 0, first.stderr);
    assert.ok(first.stderr.includes(`keygate: created a new database at ${db}\n`), `the new database is announced:\n${first.stderr}`);
    assert.ok(fs.existsSync(db), `${db} exists`);
    assert.ok(fs.existsSync(path.join(path.dirname(db), 'hash.key')), 'the keys are beside it');
    assert.equal(fs.statSync(path.dirname(db)).mode & 0o777, 0o700, 'its directory is 0700');
    const again = kg(['token', 'list'], { env, cwd: dir });
    assert.doesNotMatch(again.stderr, /created a new database/, 'an existing database is not announced');
  }
  const given = path.join(dir, 'given', 'g.db');
  const r = kg(['token', 'list', '--db', given], { env: { HOME: home, KEYGATE_DB: path.join(dir, 'env/k.db') }, cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.existsSync(given), '--db wins over KEYGATE_DB, given after the command');
  assert.ok(kg(['--db', given, 'token', 'list', '--help'], { env: { HOME: home } }).stdout.includes(`database: ${given} (--db)`));
  assert.ok(!fs.readdirSync(dir).includes('data'), 'no data/ in the current directory');

  const pg = kg(['--db', 'postgres://kg:s3cret-pw@127.0.0.1:1/kg?password=other-pw', 'token', 'list', '--help'], { env: { HOME: home } });
  assert.equal(pg.status, 0);
  assert.match(pg.stdout, /^database: postgres:\/\/kg:\*\*\*@127\.0\.0\.1:1\/kg\?password=\*\*\* \(--db\)$/m);
  assert.doesNotMatch(pg.stdout, /s3cret-pw|other-pw/, 'a URI password is masked');
  const none = kg(['token', 'list'], { env: { HOME: '' }, cwd: dir });
  assert.equal(none.status, 2, 'no HOME and nothing else: a usage error');
  assert.match(none.stderr, /no database: give --db, or set KEYGATE_DB or HOME/);
});

/* Asserts a table: a header row with these column titles, each row's cells starting where
 * their title does.  Returns the rows as objects keyed by title. */
function parseTable(text, titles) {
  const lines = text.split('\n').filter((l) => l !== '');
  const head = lines[0];
  const starts = titles.map((t) => head.indexOf(t));
  assert.ok(starts.every((s, i) => s >= 0 && (i === 0 || s > starts[i - 1])), `header ${JSON.stringify(head)} has ${titles}`);
  assert.equal(head.trimEnd(), head, 'no trailing spaces');
  return lines.slice(1).map((l) => {
    assert.equal(l.trimEnd(), l, `no trailing spaces: ${JSON.stringify(l)}`);
    const row = {};
    titles.forEach((t, i) => {
      // (the line ends early when its last cells are empty)
      if (i > 0 && l.length >= starts[i]) assert.equal(l[starts[i] - 1], ' ', `column ${t} starts after a space in ${JSON.stringify(l)}`);
      row[t] = l.slice(starts[i], i + 1 < titles.length ? starts[i + 1] : undefined).trim();
    });
    return row;
  });
}

test('a PostgreSQL password never reaches the terminal or the log: --help, a command and serve show it as ***', async () => {
  const dir = tmpDir();
  const uri = 'postgres://kg:hunter2-not-shown@127.0.0.1:1/keygate?password=also-not-shown';
  const args = ['--db', uri, '--keys-dir', path.join(dir, 'keys')];
  const help = kg([...args, 'token', 'list', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /database: postgres:\/\/kg:\*\*\*@127\.0\.0\.1:1\/keygate\?password=\*\*\* \(--db\)/);
  const list = kg([...args, 'token', 'list']);
  assert.equal(list.status, 1, 'an unreachable database is a failure, not a usage error');
  assert.match(list.stderr, /keygate token list: cannot open the database postgres:\/\/kg:\*\*\*@/);
  const serve = kg([...args, 'serve', '--listen', '127.0.0.1:0']);
  assert.equal(serve.status, 1);
  assert.match(serve.stderr, /cannot open the database postgres:\/\/kg:\*\*\*@/);
  for (const r of [help, list, serve]) assert.doesNotMatch(r.stdout + r.stderr, /not-shown/);
});

test('token show, token list, role list, user list and audit list: aligned tables and --json; errors name their subject', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'k.db');
  const run = (args) => h.cli(db, args);
  const long = 'a_rather_long_role_name_that_widens_its_column';
  assert.equal(run(['role', 'create', long, '--description', 'wide']).status, 0);
  assert.equal(run(['role', 'create', 'ops']).status, 0);
  assert.equal(run(['role', 'grant-role', 'ops', long]).status, 0);
  const t1 = h.cliJson(db, ['token', 'create', '--role', 'ops', '--description', 'short', '--json']);
  const t2 = h.cliJson(db, ['token', 'create', '--role', long, '--description', 'a much longer description, with spaces', '--expires-on', '2099-01-01T00:00:00Z', '--json']);
  assert.equal(run(['token', 'revoke', t1.clientId]).status, 0);
  const u = run(['user', 'create', 'someone.with.a.long.address@example.com', '--role', 'ops']);
  assert.equal(u.status, 0, u.stderr);
  assert.equal(run(['user', 'create', 'b@example.com', '--role', long]).status, 0);

  // token show
  const shown = h.cliJson(db, ['token', 'show', t2.clientId, '--json']);
  h.assertTokenShape(shown);
  const { clientSecret, ...t2NoSecret } = t2;
  assert.ok(clientSecret);
  assert.deepEqual(shown, t2NoSecret, 'token show --json is the token as created, less the secret');
  const show = run(['token', 'show', t1.clientId]);
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^Client ID: +${t1.clientId}$`, 'm'));
  assert.match(show.stdout, /^Status: +Revoked$/m);
  assert.match(show.stdout, /^Role: +ops \(r-\d{10}\)$/m);
  assert.match(show.stdout, /^Description: +short$/m);
  assert.ok(!show.stdout.includes(clientSecret) && !run(['token', 'show', t2.clientId]).stdout.includes(clientSecret), 'no secret');

  // token list
  const tl = parseTable(run(['token', 'list']).stdout, ['CLIENT ID', 'STATUS', 'ROLE', 'CREATED', 'EXPIRES', 'REVOKED', 'LAST ACCESS', 'DESCRIPTION']);
  assert.deepEqual(tl.map((r) => r['CLIENT ID']), [t2.clientId, t1.clientId], 'newest first');
  assert.deepEqual(tl.map((r) => r.STATUS), ['Active', 'Revoked']);
  assert.deepEqual(tl.map((r) => r.ROLE), [long, 'ops']);
  assert.equal(tl[0].EXPIRES, '2099-01-01T00:00:00Z');
  assert.equal(tl[1].EXPIRES, 'never');
  assert.match(tl[1].REVOKED, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(tl[0].DESCRIPTION, 'a much longer description, with spaces');
  assert.deepEqual(h.cliJson(db, ['token', 'list', '--json']).map((t) => t.clientId), [t2.clientId, t1.clientId]);

  // role list
  const rl = parseTable(run(['role', 'list']).stdout, ['ROLE ID', 'NAME', 'GRANTED ROLES', 'DESCRIPTION']);
  const ops = rl.find((r) => r.NAME === 'ops');
  assert.equal(ops['GRANTED ROLES'], long);
  assert.equal(rl.find((r) => r.NAME === long).DESCRIPTION, 'wide');
  const rj = h.cliJson(db, ['role', 'list', '--json']).find((r) => r.roleName === 'ops');
  assert.deepEqual(rj.directlyGrantedRoles.map((g) => g.roleName), [long], 'granted roles carry their names, as in the REST API');

  // user list
  const ul = parseTable(run(['user', 'list']).stdout, ['USER ID', 'EMAIL', 'ROLES', 'CREATED']);
  assert.deepEqual(ul.map((r) => [r.EMAIL, r.ROLES]), [['someone.with.a.long.address@example.com', 'ops'], ['b@example.com', long]]);
  assert.ok(ul.every((r) => h.USER_ID_RE.test(r['USER ID'])));
  const uj = h.cliJson(db, ['user', 'list', '--json']);
  assert.deepEqual(uj.map((x) => x.email), ['someone.with.a.long.address@example.com', 'b@example.com']);
  for (const x of uj) {
    assert.deepEqual(Object.keys(x), ['userId', 'email', 'defaultRoleId', 'createdOn', 'scimManaged', 'directlyGrantedRoles', 'allRoles', 'syncToken']);
    assert.match(x.createdOn, h.TIME_RE);
    assert.equal(x.directlyGrantedRoles.length, 1);
    assert.deepEqual(Object.keys(x.directlyGrantedRoles[0]), ['roleId', 'roleName', 'principal', 'adminOption']);
    assert.deepEqual(x.directlyGrantedRoles[0].principal, { type: 'User', id: x.userId });
    h.assertNoSecretMaterial(x);
  }
  assert.equal(uj[0].directlyGrantedRoles[0].roleName, 'ops');

  // audit list
  const aj = h.cliJson(db, ['audit', 'list', '--json']);
  for (const e of aj) {
    assert.deepEqual(Object.keys(e), ['time', 'actor', 'action', 'target', 'sourceAddress', 'outcome', 'detail']);
    assert.equal(e.actor, 'cli');
    assert.equal(e.sourceAddress, 'local');
  }
  assert.deepEqual([...aj.map((e) => e.time)].sort().reverse(), aj.map((e) => e.time), 'newest first');
  assert.ok(aj.find((e) => e.action === 'apiToken.revoke' && e.target === t1.clientId && e.outcome === 'OK'));
  assert.ok(aj.find((e) => e.action === 'user.create' && e.detail === 'b@example.com'));
  assert.equal(h.cliJson(db, ['audit', 'list', '--json', '--limit', '2']).length, 2);
  assert.deepEqual(h.cliJson(db, ['audit', 'list', '--json', '--actor', 'u-0000000000']), []);
  assert.deepEqual(h.cliJson(db, ['audit', 'list', '--json', '--since', '2099-01-01T00:00:00Z']), []);
  assert.equal(h.cliJson(db, ['audit', 'list', '--json', '--until', '2099-01-01T00:00:00Z', '--actor', 'cli']).length, aj.length);
  const al = parseTable(run(['audit', 'list', '--limit', '3']).stdout, ['TIME', 'ACTOR', 'ACTION', 'TARGET', 'SOURCE', 'OUTCOME', 'DETAIL']);
  assert.equal(al.length, 3);
  assert.deepEqual(al.map((r) => r.ACTION), aj.slice(0, 3).map((e) => e.action));
  assert.ok(al.every((r) => r.ACTOR === 'cli' && r.SOURCE === 'local' && r.OUTCOME === 'OK'));

  // errors name what they are about
  const fails = [
    [['token', 'show', 'kgc_0000000000000000'], 'keygate token show kgc_0000000000000000: no API token has that Client ID\n'],
    [['token', 'revoke', 'kgc_0000000000000000'], 'keygate token revoke kgc_0000000000000000: no API token has that Client ID\n'],
    [['token', 'create', '--role', 'nope'], "keygate token create: role 'nope' does not exist\n"],
    [['user', 'create', 'c@example.com', '--role', 'nope'], "keygate user create: role 'nope' does not exist\n"],
    [['user', 'create', 'b@example.com', '--role', 'ops'], 'keygate user create b@example.com: a user with that email exists\n'],
    [['user', 'reset-password', 'nobody@example.com'], 'keygate user reset-password nobody@example.com: no user has that email\n'],
    [['role', 'create', 'ops'], 'keygate role create ops: a role with that name exists\n'],
    [['role', 'grant-privilege', 'nope', 'CreateRole'], "keygate role grant-privilege: role 'nope' does not exist\n"],
    [['role', 'grant-role', 'ops', 'nope'], "keygate role grant-role: role 'nope' does not exist\n"],
    [['token', 'create', '--role', 'ops', '--expires-on', '2020-01-01T00:00:00Z'], 'keygate token create: --expires-on 2020-01-01T00:00:00Z is in the past\n'],
  ];
  for (const [args, msg] of fails) {
    const r = run(args);
    assert.equal(r.status, 1, `keygate ${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.endsWith(msg), `keygate ${args.join(' ')} says ${JSON.stringify(msg)}; got ${JSON.stringify(r.stderr)}`);
  }
});

test('user reset-password: a new generated password (or --password-file) signs in; the old one no longer does, nor its sessions; audited', async () => {
  const srv = await h.startServer();
  servers.push(srv);
  const old = h.adminPassword(srv);
  const login = async (pw) => {
    const r = await fetch(`${srv.base}/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'admin@localhost', password: pw }), signal: AbortSignal.timeout(10000),
    });
    await r.text();
    login.cookie = (r.headers.get('set-cookie') || '').split(';')[0];
    return r.status;
  };
  const session = async (cookie) => (await fetch(`${srv.base}/pane/session`, { headers: { Cookie: cookie }, signal: AbortSignal.timeout(10000) })).status;
  assert.equal(await login(old), 200);
  const before = login.cookie;
  assert.equal(await session(before), 200, 'signed in under the old password');

  const r = h.cli(srv.db, ['user', 'reset-password', 'admin@localhost']);
  assert.equal(r.status, 0, r.stderr);
  const pw = /^Password: +(\S+)$/m.exec(r.stdout)[1];
  assert.match(pw, /^[0-9A-Za-z]{24}$/);
  assert.match(r.stdout, /shown only this once/);
  assert.ok(!r.stderr.includes(pw), 'the password is not on stderr');
  assert.equal(await login(pw), 200, 'the new password signs in');
  assert.equal(await login(old), 401, 'the old one does not');
  assert.equal(await session(before), 401, 'the session begun under the old password has ended (the server is another process)');
  assert.equal(await session(login.cookie), 401, 'a failed sign-in leaves no session');

  const file = path.join(srv.dir, 'chosen');
  fs.writeFileSync(file, 'chosen-password-1\n', { mode: 0o600 });
  const f = h.cli(srv.db, ['user', 'reset-password', 'admin@localhost', '--password-file', file]);
  assert.equal(f.status, 0, f.stderr);
  assert.ok(!f.stdout.includes('chosen-password-1'), 'a given password is not echoed');
  assert.equal(await login('chosen-password-1'), 200);
  assert.equal(await login(pw), 401);

  fs.writeFileSync(file, 'short\n');
  const bad = h.cli(srv.db, ['user', 'reset-password', 'admin@localhost', '--password-file', file]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--password-file .*chosen: the password must be 8 to 1024 bytes/);

  const resets = h.cliJson(srv.db, ['audit', 'list', '--json']).filter((e) => e.action === 'user.resetPassword');
  assert.equal(resets.length, 2, JSON.stringify(resets));
  assert.ok(resets.every((e) => h.USER_ID_RE.test(e.target) && e.actor === 'cli' && e.outcome === 'OK'));
});

test('serve logs the database it uses; --log-format json makes every line a JSON object', async () => {
  const srv = await h.startServer({ args: ['--log-format', 'json'] });
  servers.push(srv);
  const lines = srv.stderr.split('\n').filter((l) => l);
  const objs = lines.map((l) => {
    try { return JSON.parse(l); } catch { return assert.fail(`not JSON: ${l}`); }
  });
  assert.ok(objs.some((o) => o.msg === `created a new database at ${srv.db}`), srv.stderr);
  assert.ok(objs.some((o) => o.msg === `database: ${srv.db} (--db); keys in ${srv.dir}`), srv.stderr);
});

test('token rotate and token secret add|list|delete: a running server takes each secret at once, and stops a rotated or deleted one', async () => {
  const srv = await h.startServer();
  servers.push(srv);
  const run = (args) => h.cli(srv.db, args);
  const t = h.cliJson(srv.db, ['token', 'create', '--role', 'public', '--json']);
  assert.equal((await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret)).status, 200);

  // add: printed once, for people and as JSON
  const added = run(['token', 'secret', 'add', t.clientId, '--description', 'for the new cluster']);
  assert.equal(added.status, 0, added.stderr);
  const second = /^Secret key: +(\S+)$/m.exec(added.stdout)[1];
  const secondId = /^Secret ID: +(s-\d{10})$/m.exec(added.stdout)[1];
  assert.ok(h.secretChecksumOk(second));
  assert.match(added.stdout, /shown only this once/);
  // the first try, not the next sync's: the server reads the store when a secret is new to it
  const r2 = await h.exchange(srv.base, t.clientId, second);
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.json.secret_id, secondId, 'the answer names the secret used');
  assert.equal((await h.exchange(srv.base, t.clientId, t.clientSecret)).status, 200, 'the first still works');

  // list: a table and JSON, never a secret
  const list = run(['token', 'secret', 'list', t.clientId]);
  assert.equal(list.status, 0, list.stderr);
  const rows = parseTable(list.stdout, ['SECRET ID', 'PREFIX', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED', 'DESCRIPTION']);
  assert.deepEqual(rows.map((r) => [r.PREFIX, r.STATUS, r.DESCRIPTION]),
    [[t.clientSecret.slice(0, 8), 'Active', ''], [second.slice(0, 8), 'Active', 'for the new cluster']]);
  assert.ok(!list.stdout.includes(second) && !list.stdout.includes(t.clientSecret));
  const listed = h.cliJson(srv.db, ['token', 'secret', 'list', t.clientId, '--json']);
  assert.deepEqual(listed.map((s) => s.secretId), [rows[0]['SECRET ID'], secondId]);
  h.assertNoSecretMaterial(listed);

  // rotate with no grace: the older two stop at once, the new one works
  const rot = h.cliJson(srv.db, ['token', 'rotate', t.clientId, '--grace', '0', '--json']);
  assert.match(rot.secretId, /^s-\d{10}$/);
  assert.equal((await h.exchange(srv.base, t.clientId, rot.clientSecret)).status, 200);
  for (const old of [t.clientSecret, second]) {
    const r = await h.exchange(srv.base, t.clientId, old);
    assert.equal(r.status, 401, 'a rotated-out secret is refused like a wrong one');
    assert.equal(r.json.error, 'invalid_client');
  }
  assert.deepEqual(h.cliJson(srv.db, ['token', 'secret', 'list', t.clientId, '--json']).map((s) => s.status),
    ['Expired', 'Expired', 'Active']);

  // delete: an expired one goes; the last live one stays, and says why
  const del = run(['token', 'secret', 'delete', t.clientId, secondId]);
  assert.equal(del.status, 0, del.stderr);
  assert.equal(del.stdout, `${t.clientId}: secret ${secondId} deleted\n`);
  const fails = [
    [['token', 'secret', 'delete', t.clientId, rot.secretId], `keygate token secret delete ${t.clientId}: a token keeps at least one live secret: revoke the token instead\n`],
    [['token', 'secret', 'delete', t.clientId, secondId], `keygate token secret delete ${secondId}: the token has no secret with that secretId\n`],
    [['token', 'secret', 'add', 'kgc_0000000000000000'], 'keygate token secret add kgc_0000000000000000: no token has that clientId\n'],
    [['token', 'secret', 'list', 'kgc_0000000000000000'], 'keygate token secret list kgc_0000000000000000: no API token has that Client ID\n'],
  ];
  for (const [args, msg] of fails) {
    const r = run(args);
    assert.equal(r.status, 1, `keygate ${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.endsWith(msg), `keygate ${args.join(' ')} says ${JSON.stringify(msg)}; got ${JSON.stringify(r.stderr)}`);
  }
  // usage errors: exit 2, naming what is wrong
  for (const [args, msg] of [
    [['token', 'rotate', t.clientId, '--grace', '31d'], /--grace is a duration like 90s, 30m, 12h or 7d, at most 30d, or 0, not '31d'/],
    [['token', 'secret', 'ad', t.clientId], /unknown subcommand 'secret ad' \(did you mean 'secret add'\?\)/],
    [['token', 'secret'], /missing subcommand \(.*secret add, secret list, secret delete\)/],
  ]) {
    const r = run(args);
    assert.equal(r.status, 2, `keygate ${args.join(' ')}`);
    assert.match(r.stderr, msg);
  }
  const audit = h.cliJson(srv.db, ['audit', 'list', '--json']).map((e) => `${e.action} ${e.outcome}`);
  for (const a of ['apiToken.secret.add OK', 'apiToken.rotate OK', 'apiToken.secret.delete OK', 'apiToken.secret.delete FAILED_PRECONDITION']) {
    assert.ok(audit.includes(a), `the audit log has ${a}`);
  }
});

test('token update sets a rate limit and allowed ranges that a running server applies at once; token usage prints the counts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-cli-usage-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'policy.txt'), 'GET /api/** orders.read\n');
  const srv = await h.startServer({ args: ['--policy', path.join(dir, 'policy.txt'), '--usage-flush-ms', '100'] });
  servers.push(srv);
  const run = (args) => h.cli(srv.db, args);
  const t = h.cliJson(srv.db, ['token', 'create', '--role', 'accountadmin', '--json']);
  const r = await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret);
  assert.equal(r.status, 200, r.text);
  const gate = () => fetch(`${srv.base}/gate`, { headers: { Authorization: `Bearer ${r.json.access_token}`, 'X-Original-Method': 'GET', 'X-Original-URI': '/api/x' } });

  const up = run(['token', 'update', t.clientId, '--rate-limit', '2/1h', '--allowed-cidrs', '127.0.0.1,2001:db8::1/32', '--description', 'limited']);
  assert.equal(up.status, 0, up.stderr);
  assert.match(up.stdout, /^Rate limit: +2 requests in 3600 s$/m);
  assert.match(up.stdout, /^Allowed from: +127\.0\.0\.1\/32,2001:db8::\/32$/m);
  assert.match(up.stdout, /^Description: +limited$/m);
  // the server follows the database within a second
  assert.ok(await h.waitFor(async () => (await gate()).headers.get('ratelimit-policy') === '"token";q=2;w=3600', 3000));
  const codes = [];
  for (let i = 0; i < 3; i++) codes.push((await gate()).status);
  assert.deepEqual(codes, [204, 429, 429], 'the check that saw the limit took one of the two');

  const shown = h.cliJson(srv.db, ['token', 'show', t.clientId, '--json']);
  assert.deepEqual(shown.rateLimit, { requests: 2, periodSeconds: 3600 });
  assert.deepEqual(shown.allowedCidrs, ['127.0.0.1/32', '2001:db8::/32']);
  const cleared = h.cliJson(srv.db, ['token', 'update', t.clientId, '--rate-limit', 'none', '--allowed-cidrs', 'any', '--json']);
  assert.equal(cleared.rateLimit, null);
  assert.deepEqual(cleared.allowedCidrs, []);

  for (const [args, code, msg] of [
    [['token', 'update', t.clientId, '--rate-limit', '0/1m'], 2, /--rate-limit is a rate limit like 100\/60s, or none, not '0\/1m'/],
    [['token', 'update', t.clientId, '--allowed-cidrs', '10.0.0.0/40'], 1, /allowedCidrs must hold IPv4 or IPv6 addresses or CIDR ranges/],
    [['token', 'update', 'kgc_0000000000000000', '--description', 'x'], 1, /no token has that clientId/],
    [['token', 'usage', t.clientId, '--by', 'week'], 2, /--by is hour or day, not 'week'/],
    [['token', 'usage', t.clientId, '--since', '2026-01-01T00:00:00Z', '--until', '2026-03-01T00:00:00Z', '--by', 'hour'], 1, /at most 31 days by the hour/],
  ]) {
    const res = run(args);
    assert.equal(res.status, code, `keygate ${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, msg);
  }

  // the counts: what the server wrote, a line a day and a total
  let totals;
  assert.ok(await h.waitFor(() => {
    totals = h.cliJson(srv.db, ['token', 'usage', t.clientId, '--json']).totals;
    return totals.refusedRateLimit >= 1;
  }, 5000), JSON.stringify(totals));
  const table = run(['token', 'usage', t.clientId]);
  assert.equal(table.status, 0, table.stderr);
  const rows = parseTable(table.stdout, ['FROM (UTC)', 'REQUESTS', 'EXCHANGES', 'GATE', 'API', 'REFUSED', 'PRIVILEGE', 'RATE', 'ADDRESS', 'EXPIRED']);
  assert.ok(rows.length >= 8, 'a line a day for 7 days, and the total');
  const total = rows.at(-1);
  assert.equal(total['FROM (UTC)'], 'total');
  assert.equal(Number(total.RATE), totals.refusedRateLimit);
  assert.equal(Number(total.EXCHANGES), totals.exchanges);
  assert.equal(Number(total.REQUESTS), totals.requests);
  assert.equal(rows.at(-2)['FROM (UTC)'], new Date().toISOString().slice(0, 10), 'today last');
});

