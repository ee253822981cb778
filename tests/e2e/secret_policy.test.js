'use strict';
// Secret expiry policy (issue 18): --max-secret-lifetime caps every new secret's expiry (a
// token's first one, an added one, a rotated-in one) and the answer shows it; the CLI takes
// the same limit from KEYGATE_MAX_SECRET_LIFETIME; GET /apiToken?expiringWithin= lists the
// Active tokens that stop working by then, by their own expiry or their last live secret's.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers.js');

const DAY = 86400000;
const servers = [];
after(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
});

/* |t - want| within a minute: the server's clock read a moment apart from ours. */
function near(t, want, what) {
  assert.match(t, h.TIME_RE, what);
  assert.ok(Math.abs(Date.parse(t) - want) < 60000, `${what}: ${t} is not about ${new Date(want).toISOString()}`);
}

test('--max-secret-lifetime: a secret without an expiry, or with a later one, gets the limit; an earlier one stays', async () => {
  const srv = await h.startServer({ args: ['--max-secret-lifetime', '30d'] });
  servers.push(srv);
  const boot = await h.bootstrap(srv); // made by the CLI, without the variable: no limit
  const made = await h.api(srv.base, 'POST', `${h.V1}/apiToken`, {
    token: boot.access, body: { description: 'capped', roleId: 'r-0000000002' },
  });
  assert.equal(made.status, 201, made.text);
  h.assertTokenShape(made.json, { withSecret: true });
  assert.equal(made.json.secretCount, 1);
  near(made.json.secretsExpireOn, Date.now() + 30 * DAY, 'the first secret expires at the limit');
  assert.equal(made.json.expiresOn, null, 'the token itself does not expire: it can be rotated');

  const late = await h.api(srv.base, 'POST', `${h.V1}/apiToken/${made.json.clientId}/secret`, {
    token: boot.access, body: { expiresOn: '2099-01-01T00:00:00Z' },
  });
  assert.equal(late.status, 201, late.text);
  near(late.json.expiresOn, Date.now() + 30 * DAY, 'a later expiry is brought to the limit');
  const soon = new Date(Date.now() + DAY).toISOString().replace(/\.\d+Z$/, 'Z');
  const early = await h.api(srv.base, 'POST', `${h.V1}/apiToken/${made.json.clientId}/secret`, {
    token: boot.access, body: { expiresOn: soon },
  });
  assert.equal(early.status, 201, early.text);
  assert.equal(Date.parse(early.json.expiresOn), Date.parse(soon), 'an earlier expiry is kept');
  const rot = await h.api(srv.base, 'POST', `${h.V1}/apiToken/${made.json.clientId}:rotate`, {
    token: boot.access, body: { gracePeriodSeconds: 60 },
  });
  assert.equal(rot.status, 201, rot.text);
  near(rot.json.expiresOn, Date.now() + 30 * DAY, 'a rotated-in secret gets the limit too');
  const r = await h.exchange(srv.base, made.json.clientId, rot.json.clientSecret);
  assert.equal(r.status, 200, 'a capped secret works until then');
});

test('KEYGATE_MAX_SECRET_LIFETIME: the CLI caps the secrets it makes; a malformed value is a usage error', async () => {
  const srv = await h.startServer();
  servers.push(srv);
  const env = { ...process.env, KEYGATE_DB: '', KEYGATE_MAX_SECRET_LIFETIME: '2d' };
  const made = h.cli(srv.db, ['token', 'create', '--role', 'public', '--json'], { env });
  assert.equal(made.status, 0, made.stderr);
  const t = JSON.parse(made.stdout);
  near(t.secretsExpireOn, Date.now() + 2 * DAY, 'token create');
  const added = h.cli(srv.db, ['token', 'secret', 'add', t.clientId, '--json'], { env });
  assert.equal(added.status, 0, added.stderr);
  near(JSON.parse(added.stdout).expiresOn, Date.now() + 2 * DAY, 'token secret add');
  const bad = h.cli(srv.db, ['token', 'list'], { env: { ...env, KEYGATE_MAX_SECRET_LIFETIME: 'forever' } });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /KEYGATE_MAX_SECRET_LIFETIME is a duration like 90d, 12h or 30m, at most 3650d, not 'forever'/);
  const badServe = h.cli(srv.db, ['serve', '--max-secret-lifetime', '0']);
  assert.equal(badServe.status, 2, 'no limit is no option: leave it out');
  assert.match(badServe.stderr, /--max-secret-lifetime is a duration like 90d/);
});

test('?expiringWithin= lists the Active tokens that stop working by then, newest first', async () => {
  const srv = await h.startServer();
  servers.push(srv);
  const boot = await h.bootstrap(srv);
  const mk = async (body) => {
    const r = await h.api(srv.base, 'POST', `${h.V1}/apiToken`, { token: boot.access, body: { roleId: 'r-0000000002', ...body } });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  const in2d = new Date(Date.now() + 2 * DAY).toISOString().replace(/\.\d+Z$/, 'Z');
  const tokenExpires = await mk({ description: 'the token expires', expiresOn: in2d });
  const secretExpires = await mk({ description: 'its secret expires' });
  const forever = await mk({ description: 'never' });
  // the second token's only live secret is rotated out in 2 days... and the new one expires too
  const rot = await h.api(srv.base, 'POST', `${h.V1}/apiToken/${secretExpires.clientId}:rotate`, {
    token: boot.access, body: { gracePeriodSeconds: 0, expiresOn: in2d },
  });
  assert.equal(rot.status, 201, rot.text);
  const list = async (q) => {
    const r = await h.api(srv.base, 'GET', `${h.V1}/apiToken?${q}`, { token: boot.access });
    assert.equal(r.status, 200, r.text);
    return r.json.result.map((t) => t.clientId);
  };
  assert.deepEqual(await list('expiringWithin=3d'), [secretExpires.clientId, tokenExpires.clientId]);
  assert.deepEqual(await list('expiringWithin=1d'), []);
  assert.deepEqual(await list('expiringWithin=3d&pageSize=1').then((x) => x.length), 1);
  const all = await list('pageSize=100');
  assert.ok(all.includes(forever.clientId) && all.length === 4, 'without the filter: every token');
  const got = await h.api(srv.base, 'GET', `${h.V1}/apiToken/${secretExpires.clientId}`, { token: boot.access });
  assert.equal(got.json.secretCount, 1);
  assert.equal(Date.parse(got.json.secretsExpireOn), Date.parse(in2d));
  const revoked = await h.api(srv.base, 'POST', `${h.V1}/apiToken/${tokenExpires.clientId}:revoke`, { token: boot.access });
  assert.equal(revoked.status, 200);
  assert.deepEqual(await list('expiringWithin=3d'), [secretExpires.clientId], 'a revoked token is not expiring: it has stopped');
  for (const bad of ['soon', '-1d', '3651d', '']) {
    const r = await h.api(srv.base, 'GET', `${h.V1}/apiToken?expiringWithin=${bad}`, { token: boot.access });
    h.assertApiError(r, 400, 'INVALID_ARGUMENT', `expiringWithin=${bad}`);
    assert.ok(r.text.includes('expiringWithin'), r.text);
  }
});
