'use strict';
// Crash safety (issue 7): a concurrent write load (API-token creates and revokes, exchanges that
// set Last access, RFC 7009 access-token revocations) runs against a real server; the server is
// killed with SIGKILL at a random moment, ROUNDS times, and restarted on the same database.
// After every restart: every acknowledged create is there, complete and unchanged; every
// acknowledged revoke is Revoked, its secret is refused and an access token issued before the
// revoke is refused; a create or revoke whose answer was lost (the connection dropped when the
// process died) has happened completely or not at all; no record is half-written, duplicated or
// unexplained; the database passes `PRAGMA integrity_check` (when the sqlite3 CLI exists).
//
// The audit log (issue 13, point 7): the load also creates roles, grants and revokes privileges
// and creates users.  After every restart the store and the audit log tell the same story in both
// directions: every token has exactly one OK apiToken.create entry and every such entry's token
// exists; every Revoked token has an OK apiToken.revoke entry and every such entry's token is
// Revoked; the roles and users are exactly the targets of the OK role.create / user.create
// entries; each role's privileges are what replaying its OK privilege.grant / privilege.revoke
// entries in log order gives; and every request answered 2xx before the kill is in both.  A
// change whose answer the kill cut is in both or in neither.
//
// The server runs with a fixed --issuer, so access tokens issued before a kill stay valid
// across restarts (each restart gets a new port): a refused one is refused for its revocation,
// not for a changed issuer — the active tokens' access tokens are checked too, as the control.
//
// CRASH_SEED=<n> replays the test's own random choices (kill moments and operation mix); the
// server's timing still varies.  CRASH_KEEP_DIR=1 keeps the data directory (its path is printed).

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const h = require('./helpers.js');

const { V1 } = h;

/* ---- bounds ----------------------------------------------------------------------------- */
const ROUNDS = 5; // SIGKILLs (and restarts)
const WORKERS = 6; // concurrent load loops per round
const KILL_MIN_MS = 100; // a kill lands this long …
const KILL_MAX_MS = 600; // … to this long after the load starts
const MAX_OPS_PER_WORKER = 400; // per round; a kill normally ends a round long before
const MAX_CREATES_PER_ROUND = 150; // then the round's load only revokes and exchanges
const MAX_CREATES = 600; // in all: bounds the checks after each restart
const OTHER_SHARE = 0.25; // of the load's operations: role, privilege and user changes
const MAX_OTHERS_PER_ROUND = 80;
const MAX_ROLES = 120; // role creates in all
const MAX_USERS_PER_ROUND = 3; // a user create hashes a password with argon2id (slow, 64 MiB)
const PRIV_NAMES = ['crash.read', 'crash.write', 'crash.admin'];
const BUILTIN_ROLES = new Set(['r-0000000001', 'r-0000000002']);
const VERIFY_CONCURRENCY = 8;
const REVOKED_SECRETS_PER_RESTART = 8; // failed exchanges a restart (see verify())
const REQ_TIMEOUT_MS = 15000; // one load request (an ASan build is slow, never that slow)
const KILL_WAIT_MS = 5000; // for the killed process to be reaped
const TEST_DEADLINE_MS = 45000; // the whole test; it normally takes about 10 s, ASan included
const ISSUER = 'http://keygate-crash.test';

/* Resolves to `value` after ms, without keeping the process alive once the race is decided. */
function within(promise, ms, value) {
  let timer;
  const t = new Promise((resolve) => { timer = setTimeout(resolve, ms, value); });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

const started = Date.now();
const deadline = started + TEST_DEADLINE_MS;

function checkDeadline(what) {
  assert.ok(Date.now() < deadline, `crash test: over its ${TEST_DEADLINE_MS} ms budget (${what})`);
}

/* ---- seeded randomness (mulberry32) ---------------------------------------------------- */
const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) >>> 0 : crypto.randomInt(2 ** 31);
let rngState = SEED;
function rand() {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

/* ---- the load's requests: every outcome classified ------------------------------------- */

/*
 * One request of the load.  Returns {kind, status, json, text}:
 *   kind 'ack'     — a 2xx answer whose body was read whole;
 *   kind 'refused' — any other HTTP answer (the server said no);
 *   kind 'notsent' — the connection was refused: the request never reached a server;
 *   kind 'unknown' — the connection dropped (or timed out) after the request may have arrived.
 */
async function loadCall(base, method, p, { token, body, form, auth } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (auth) headers.Authorization = auth;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  } else if (form !== undefined) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    payload = form;
  }
  try {
    const r = await fetch(base + p, { method, headers, body: payload, signal: AbortSignal.timeout(REQ_TIMEOUT_MS) });
    const text = await r.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { kind: r.status >= 200 && r.status < 300 ? 'ack' : 'refused', status: r.status, json, text };
  } catch (e) {
    const code = (e && e.cause && e.cause.code) || (e && e.code) || '';
    if (code === 'ECONNREFUSED') return { kind: 'notsent', error: String(code) };
    return { kind: 'unknown', error: `${e && e.name}: ${code || (e && e.message)}` };
  }
}

/* ---- model of what was done ------------------------------------------------------------- */

/*
 * One record per create attempted, keyed by its (unique) description:
 *   create:   'ack' | 'unknown' | 'notsent' | 'refused'
 *   resolved: for a create that was not acknowledged, after a restart: 'present' | 'absent'
 *   clientId, secret, roleId, roleName, createdOn (from the 201 body, or from the list)
 *   revokes:  outcomes of the revoke requests made for it ('ack' | 'unknown' | …)
 *   mustBeRevoked: an acknowledged revoke, or Revoked seen after a restart (stays so)
 *   preRevokeAccess: access tokens issued before a revoke was sent
 *   liveAccess: an access token of a token never revoked and not revoked by jti (control)
 */
const recs = new Map();
/* Role, privilege and user changes of the load: {kind ('ack' | 'unknown' | …), …}. */
const roleRecs = new Map(); // by roleName: roleId once acknowledged or found after a restart
const privOps = []; // {roleId, action: 'privilege.grant' | 'privilege.revoke', detail, kind}
const userRecs = new Map(); // by email: userId once acknowledged or found after a restart
const jtiRevokes = []; // {rec, access, kind, confirmed}
const anomalies = []; // things the load saw that are wrong even without a crash
const stats = {
  rounds: 0,
  ops: { create: {}, revoke: {}, exchange: {}, jtiRevoke: {}, roleCreate: {}, privilege: {}, userCreate: {} },
  checked: { creates: 0, revokes: 0, revokedSecrets: 0, revokedAccess: 0, activeSecrets: 0, activeAccess: 0, jti: 0 },
  unknownCreates: { present: 0, absent: 0 },
  unknownRevokes: { done: 0, notDone: 0 },
  unknownJti: { done: 0, notDone: 0 },
  inFlightAtKill: [],
  killAt: [],
  integrity: 'not run',
  throttled: 0,
  revokedSecretsDistinct: new Set(),
  listed: 0,
  perRoundMs: [],
  audit: { entries: 0, ok: 0, roles: 0, privileges: 0, users: 0 },
};
const count = (o, k) => { o[k] = (o[k] || 0) + 1; };

let RUN_TAG = ''; // random per run, in every description: no clash with anything else
const descOf = (round, worker, n) => `crash ${RUN_TAG} r${round} w${worker} n${n}`;
const DESC_RE = /^crash ([0-9a-f]{8}) r(\d+) w(\d+) n(\d+)$/;

/* Tokens a load op may pick: acknowledged, never sent a revoke. */
function activePool() {
  const out = [];
  for (const r of recs.values()) {
    if (r.clientId && r.secret && r.revokes.length === 0 && !r.busy && !r.mustBeRevoked) out.push(r);
  }
  return out;
}

/* ---- one round of load ------------------------------------------------------------------ */

async function worker(ctx, w) {
  const { base, admin, round, roles } = ctx;
  for (let i = 0; i < MAX_OPS_PER_WORKER && !ctx.killed && Date.now() < ctx.loadDeadline; i++) {
    const pool = activePool();
    const dice = rand();
    const mayCreate = ctx.creates < MAX_CREATES_PER_ROUND && recs.size < MAX_CREATES;
    if (pool.length === 0 && !mayCreate) break;
    if (ctx.others < MAX_OTHERS_PER_ROUND && rand() < OTHER_SHARE) {
      await otherChange(ctx, w, i);
      continue;
    }
    if (mayCreate && (pool.length === 0 || dice < 0.55)) {
      ctx.creates++;
      // create
      const role = roles[randInt(0, roles.length - 1)];
      const desc = descOf(round, w, i);
      const rec = { desc, round, roleId: role.roleId, roleName: role.roleName, create: null, revokes: [],
        preRevokeAccess: [], liveAccess: null, mustBeRevoked: false };
      recs.set(desc, rec);
      ctx.inFlight++;
      const r = await loadCall(base, 'POST', `${V1}/apiToken`, { token: admin, body: { description: desc, roleId: role.roleId } });
      ctx.inFlight--;
      rec.create = r.kind;
      count(stats.ops.create, r.kind);
      if (r.kind === 'ack') {
        if (r.status !== 201 || !r.json || typeof r.json.clientId !== 'string' || !h.SECRET_RE.test(r.json.clientSecret || '')) {
          anomalies.push(`create ${desc}: acknowledged with ${r.status} ${r.text.slice(0, 200)}`);
          rec.create = 'refused';
          continue;
        }
        rec.clientId = r.json.clientId;
        rec.secret = r.json.clientSecret;
        rec.createdOn = r.json.createdOn;
        rec.createdBy = r.json.createdBy;
        if (r.json.description !== desc || r.json.roleId !== role.roleId || r.json.status !== 'Active' || r.json.createdBy !== ctx.adminId) {
          anomalies.push(`create ${desc}: acknowledged with ${r.text.slice(0, 300)}`);
        }
      } else if (r.kind === 'refused') {
        anomalies.push(`create ${desc}: refused while the server was up: ${r.status} ${r.text.slice(0, 200)}`);
      }
    } else if (dice < 0.8) {
      // revoke: first an access token (issued before the revoke), then the revoke itself
      const rec = pool[randInt(0, pool.length - 1)];
      rec.busy = true;
      ctx.inFlight++;
      const x = await loadCall(base, 'POST', '/oauth/v2/token', { form: 'grant_type=client_credentials', auth: h.basic(rec.clientId, rec.secret) });
      ctx.inFlight--;
      count(stats.ops.exchange, x.kind);
      if (x.kind !== 'ack') {
        if (x.kind === 'refused') anomalies.push(`exchange for active ${rec.clientId}: ${x.status} ${x.text.slice(0, 200)}`);
        rec.busy = false;
        continue;
      }
      rec.preRevokeAccess.push(x.json.access_token);
      ctx.inFlight++;
      const r = await loadCall(base, 'POST', `${V1}/apiToken/${rec.clientId}:revoke`, { token: admin });
      ctx.inFlight--;
      rec.busy = false;
      rec.revokes.push(r.kind);
      count(stats.ops.revoke, r.kind);
      if (r.kind === 'ack') {
        rec.mustBeRevoked = true;
        rec.revokedRound = round;
        rec.revokedOn = r.json && r.json.revokedOn;
        if (!r.json || r.json.status !== 'Revoked' || !r.json.revokedOn) {
          anomalies.push(`revoke ${rec.clientId}: acknowledged but answered ${r.text.slice(0, 200)}`);
        }
      } else if (r.kind === 'refused') {
        anomalies.push(`revoke ${rec.clientId}: refused while the server was up: ${r.status} ${r.text.slice(0, 200)}`);
      }
    } else {
      // exchange (sets Last access), sometimes followed by an RFC 7009 revoke of that access token
      const rec = pool[randInt(0, pool.length - 1)];
      rec.busy = true;
      ctx.inFlight++;
      const x = await loadCall(base, 'POST', '/oauth/v2/token', { form: 'grant_type=client_credentials', auth: h.basic(rec.clientId, rec.secret) });
      ctx.inFlight--;
      count(stats.ops.exchange, x.kind);
      if (x.kind === 'refused') anomalies.push(`exchange for active ${rec.clientId}: ${x.status} ${x.text.slice(0, 200)}`);
      if (x.kind !== 'ack') { rec.busy = false; continue; }
      const access = x.json.access_token;
      if (rand() < 0.4) {
        const j = { rec, access, kind: null, confirmed: false };
        jtiRevokes.push(j);
        ctx.inFlight++;
        const r = await loadCall(base, 'POST', '/oauth/v2/revoke', { form: `token=${access}&token_type_hint=access_token`, auth: h.basic(rec.clientId, rec.secret) });
        ctx.inFlight--;
        j.kind = r.kind;
        count(stats.ops.jtiRevoke, r.kind);
        if (r.kind === 'refused') anomalies.push(`RFC 7009 revoke for ${rec.clientId}: ${r.status} ${r.text.slice(0, 200)}`);
      } else {
        rec.liveAccess = access;
      }
      rec.busy = false;
    }
  }
}

/* A role create, a privilege grant or revoke on a role of the load, or a user create. */
async function otherChange(ctx, w, i) {
  const { base, admin, round } = ctx;
  ctx.others++;
  const known = [...roleRecs.values()].filter((r) => r.roleId);
  const dice = rand();
  if (roleRecs.size < MAX_ROLES && (known.length === 0 || dice < 0.3)) {
    const rec = { name: `crash_${RUN_TAG}_r${round}_w${w}_n${i}`, kind: null, roleId: null };
    roleRecs.set(rec.name, rec);
    ctx.inFlight++;
    const r = await loadCall(base, 'POST', `${V1}/role`, { token: admin, body: { grantToCreatingRole: true, roleName: rec.name, roleDescription: 'crash load' } });
    ctx.inFlight--;
    rec.kind = r.kind;
    count(stats.ops.roleCreate, r.kind);
    if (r.kind === 'ack') rec.roleId = r.json && r.json.roleId;
    if (r.kind === 'refused' || (r.kind === 'ack' && !h.ROLE_ID_RE.test(rec.roleId || ''))) {
      anomalies.push(`role create ${rec.name}: ${r.status} ${r.text.slice(0, 200)}`);
    }
  } else if (known.length > 0 && (dice < 0.9 || ctx.users >= MAX_USERS_PER_ROUND)) {
    const role = known[randInt(0, known.length - 1)];
    const grant = rand() < 0.6;
    const body = { grantKind: rand() < 0.7 ? 'Allow' : 'Deny', privilege: PRIV_NAMES[randInt(0, PRIV_NAMES.length - 1)] };
    const op = { roleId: role.roleId, action: grant ? 'privilege.grant' : 'privilege.revoke', detail: `${body.grantKind} ${body.privilege}`, kind: null };
    privOps.push(op);
    ctx.inFlight++;
    const r = await loadCall(base, 'POST', `${V1}/role/${role.roleId}/privilege:${grant ? 'grant' : 'revoke'}`, { token: admin, body });
    ctx.inFlight--;
    op.kind = r.kind;
    count(stats.ops.privilege, r.kind);
    if (r.kind === 'refused') anomalies.push(`${op.action} ${op.detail} on ${op.roleId}: ${r.status} ${r.text.slice(0, 200)}`);
  } else {
    ctx.users++;
    const rec = { email: `crash-${RUN_TAG}-r${round}-w${w}-n${i}@example.com`, kind: null, userId: null };
    userRecs.set(rec.email, rec);
    ctx.inFlight++;
    const r = await loadCall(base, 'POST', `${V1}/user`, { token: admin, body: { email: rec.email, password: 'crash-password-1' } });
    ctx.inFlight--;
    rec.kind = r.kind;
    count(stats.ops.userCreate, r.kind);
    if (r.kind === 'ack') rec.userId = r.json && r.json.userId;
    if (r.kind === 'refused' || (r.kind === 'ack' && !h.USER_ID_RE.test(rec.userId || ''))) {
      anomalies.push(`user create ${rec.email}: ${r.status} ${r.text.slice(0, 200)}`);
    }
  }
}

/* ---- checks after a restart ------------------------------------------------------------- */

function parseTime(s) {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(s);
  assert.ok(m, `not a UTC time: ${s}`);
  return Date.parse(`${m[1]}.${(m[2] || '0').padEnd(3, '0').slice(0, 3)}Z`);
}

async function pool(items, fn) {
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      checkDeadline('verification');
      await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(VERIFY_CONCURRENCY, items.length) }, run));
}

async function verify(srv, boot, round) {
  const base = srv.base;
  const admin = boot.access;
  const now = Date.now();

  // Every record, through the paginated list: complete, well-formed, no duplicate, none unexplained.
  const pages = await h.listAll(base, admin, `${V1}/apiToken`, 100, 100);
  const listed = new Map();
  const descs = new Map();
  for (const page of pages) {
    assert.ok(Array.isArray(page.result), `list page without result: ${JSON.stringify(page).slice(0, 300)}`);
    for (const t of page.result) {
      h.assertTokenShape(t);
      assert.ok(!listed.has(t.clientId), `round ${round}: ${t.clientId} listed twice`);
      listed.set(t.clientId, t);
      const created = parseTime(t.createdOn);
      assert.ok(created <= now + 5000, `round ${round}: createdOn in the future: ${JSON.stringify(t)}`);
      if (t.status === 'Active') {
        assert.equal(t.revokedOn, null, `round ${round}: an Active token with a revokedOn: ${JSON.stringify(t)}`);
      } else {
        assert.ok(t.revokedOn !== null && parseTime(t.revokedOn) >= created,
          `round ${round}: a Revoked token needs revokedOn ≥ createdOn: ${JSON.stringify(t)}`);
      }
      if (t.lastAccessOn !== null) {
        const la = parseTime(t.lastAccessOn);
        assert.ok(la >= created && la <= now + 5000, `round ${round}: lastAccessOn out of range: ${JSON.stringify(t)}`);
      }
      if (t.clientId === boot.clientId) continue;
      const m = DESC_RE.exec(t.description);
      assert.ok(m && m[1] === RUN_TAG && recs.has(t.description),
        `round ${round}: a record nobody asked for (or with a mangled description): ${JSON.stringify(t)}`);
      assert.ok(!descs.has(t.description),
        `round ${round}: two records for one create: ${JSON.stringify(t)} and ${JSON.stringify(descs.get(t.description))}`);
      descs.set(t.description, t);
    }
  }
  assert.ok(listed.has(boot.clientId), `round ${round}: the bootstrap token is gone`);
  stats.listed = listed.size;

  // Creates: acknowledged → present and unchanged; lost → present whole or absent; never sent → absent.
  const toCheck = [];
  for (const rec of recs.values()) {
    const t = descs.get(rec.desc);
    const ctx = `round ${round}, create ${rec.desc} (${rec.create}${rec.resolved ? `, resolved ${rec.resolved}` : ''})`;
    if (rec.create === 'ack' || rec.resolved === 'present') {
      assert.ok(t, `${ctx}: an acknowledged create is missing after the restart (clientId ${rec.clientId})`);
      assert.equal(t.clientId, rec.clientId, `${ctx}: clientId changed`);
      assert.equal(t.roleId, rec.roleId, `${ctx}: roleId`);
      assert.equal(t.roleName, rec.roleName, `${ctx}: roleName`);
      assert.equal(t.createdOn, rec.createdOn, `${ctx}: createdOn changed`);
      assert.equal(t.createdBy, rec.createdBy, `${ctx}: createdBy changed`);
      assert.equal(t.expiresOn, null, `${ctx}: expiresOn`);
      if (rec.revokedOn) assert.equal(t.revokedOn, rec.revokedOn, `${ctx}: revokedOn differs from the acknowledged revoke's`);
      rec.listed = t;
      toCheck.push(rec);
    } else if (rec.create === 'unknown' && !rec.resolved) {
      if (t) {
        assert.equal(t.roleId, rec.roleId, `${ctx}: roleId`);
        assert.equal(t.roleName, rec.roleName, `${ctx}: roleName`);
        assert.equal(t.expiresOn, null, `${ctx}: expiresOn`);
        rec.resolved = 'present';
        rec.clientId = t.clientId;
        rec.createdOn = t.createdOn;
        rec.createdBy = t.createdBy;
        assert.equal(t.createdBy, boot.clientId, `${ctx}: createdBy`);
        rec.listed = t;
        stats.unknownCreates.present++;
        toCheck.push(rec);
      } else {
        rec.resolved = 'absent';
        stats.unknownCreates.absent++;
      }
    } else {
      // never sent, refused, or lost and found absent after an earlier restart: must stay absent
      assert.equal(t, undefined, `${ctx}: a create that did not happen left a record: ${JSON.stringify(t)}`);
    }
  }

  const revokedWithSecret = [];
  // Each token present: its status agrees with the revokes made, and its secret and access tokens
  // are refused or accepted accordingly.
  await pool(toCheck, async (rec) => {
    const ctx = `round ${round}, ${rec.clientId} (${rec.desc}; create ${rec.create}, revokes [${rec.revokes}])`;
    const g = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}`, { token: admin });
    assert.equal(g.status, 200, `${ctx}: GET by clientId: ${g.status} ${g.text}`);
    h.assertTokenShape(g.json);
    assert.equal(g.json.description, rec.desc, `${ctx}: description`);
    assert.equal(g.json.roleId, rec.roleId, `${ctx}: roleId`);
    // the same record by GET as in the list (Last access may have moved on since)
    assert.deepEqual({ ...g.json, lastAccessOn: null }, { ...rec.listed, lastAccessOn: null }, `${ctx}: GET and list disagree`);
    stats.checked.creates++;
    const revokeTried = rec.revokes.some((k) => k === 'ack' || k === 'unknown');
    if (rec.mustBeRevoked) {
      assert.equal(g.json.status, 'Revoked', `${ctx}: acknowledged (or already seen) revoke undone: ${g.text}`);
    } else if (!revokeTried) {
      assert.equal(g.json.status, 'Active', `${ctx}: revoked although no revoke was sent: ${g.text}`);
    } else if (g.json.status === 'Revoked') {
      stats.unknownRevokes.done++;
      rec.mustBeRevoked = true; // seen committed: it has to stay so, unchanged
      rec.revokedRound = round;
      rec.revokedOn = g.json.revokedOn;
    } else {
      stats.unknownRevokes.notDone++;
      rec.revokes = rec.revokes.map((k) => (k === 'unknown' ? 'lost' : k)); // did not happen
    }
    if (rec.revokes.includes('ack')) stats.checked.revokes++;

    if (!rec.secret) return; // a lost create found present: its secret was never seen
    if (g.json.status === 'Revoked') {
      revokedWithSecret.push(rec);
      for (const a of rec.preRevokeAccess) {
        const r = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}`, { token: a });
        h.assertUnauthenticated(r, `${ctx}: an access token issued before the revoke`);
        stats.checked.revokedAccess++;
      }
      if (rec.liveAccess) {
        const r = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}`, { token: rec.liveAccess });
        h.assertUnauthenticated(r, `${ctx}: an older access token of a revoked token`);
        stats.checked.revokedAccess++;
      }
    } else {
      const x = await h.exchange(base, rec.clientId, rec.secret);
      assert.equal(x.status, 200, `${ctx}: exchange with an active token's secret: ${x.status} ${x.text}`);
      stats.checked.activeSecrets++;
      rec.liveAccess = rec.liveAccess || x.json.access_token;
      for (const a of [rec.liveAccess, ...rec.preRevokeAccess]) {
        const r = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}`, { token: a });
        assert.equal(r.status, 200, `${ctx}: an access token of an active token (issued before the kill) is refused: ${r.status} ${r.text}`);
        stats.checked.activeAccess++;
      }
    }
  });

  // Revoked tokens' secrets at the token endpoint.  keygate may slow failed client
  // authentications from one address (429 after some free failures, for as long as the server
  // runs), and the next round's load comes from the same address: so at most
  // REVOKED_SECRETS_PER_RESTART of them a restart, one at a time: mostly the ones revoked last,
  // and a few of the oldest (revoked several restarts ago); stop at the first 429 and wait it out.
  const newest = [...revokedWithSecret].sort((a, b) => b.revokedRound - a.revokedRound || (a.secretChecks || 0) - (b.secretChecks || 0))
    .slice(0, REVOKED_SECRETS_PER_RESTART - 3);
  const oldest = revokedWithSecret.filter((r) => !newest.includes(r)).sort((a, b) => a.revokedRound - b.revokedRound)
    .slice(0, REVOKED_SECRETS_PER_RESTART - newest.length);
  for (const rec of [...newest, ...oldest]) {
    const x = await h.exchange(base, rec.clientId, rec.secret);
    if (x.status === 429) {
      stats.throttled++;
      const wait = Number(x.headers.get('retry-after')) || 1;
      assert.ok(wait <= 5, `round ${round}: throttled for ${wait} s after a few failed exchanges`);
      await h.sleep(wait * 1000 + 100);
      break;
    }
    h.assertOAuthError(x, 401, 'invalid_client', `round ${round}, ${rec.clientId}: exchange with a revoked token's secret`);
    rec.secretChecks = (rec.secretChecks || 0) + 1;
    stats.checked.revokedSecrets++;
    stats.revokedSecretsDistinct.add(rec.clientId);
  }

  // RFC 7009 revocations of single access tokens.
  await pool(jtiRevokes, async (j) => {
    if (j.rec.mustBeRevoked) return; // the whole token is revoked: refused anyway, checked above
    const r = await h.api(base, 'GET', `${V1}/apiToken/${j.rec.clientId}`, { token: j.access });
    const ctx = `round ${round}, RFC 7009 revoke of an access token of ${j.rec.clientId} (${j.kind})`;
    if (j.kind === 'ack' || j.confirmed) {
      h.assertUnauthenticated(r, `${ctx}: acknowledged revoke undone`);
      stats.checked.jti++;
    } else if (j.kind === 'unknown') {
      assert.ok(r.status === 200 || r.status === 401, `${ctx}: ${r.status} ${r.text}`);
      if (r.status === 401) { j.confirmed = true; stats.unknownJti.done++; } else { j.kind = 'lost'; stats.unknownJti.notDone++; }
    } else {
      assert.equal(r.status, 200, `${ctx}: refused although its revoke did not happen: ${r.text}`);
    }
  });

  // Lost creates found present: the record is usable — revoke it (an acknowledged revoke from now on).
  for (const rec of toCheck) {
    if (rec.resolved !== 'present' || rec.revokes.includes('ack') || rec.mustBeRevoked) continue;
    const r = await h.api(base, 'POST', `${V1}/apiToken/${rec.clientId}:revoke`, { token: admin });
    assert.equal(r.status, 200, `round ${round}: revoke of ${rec.clientId} (found after a lost create): ${r.status} ${r.text}`);
    assert.equal(r.json.status, 'Revoked');
    rec.revokes.push('ack');
    rec.mustBeRevoked = true;
    rec.revokedRound = round;
    rec.revokedOn = r.json.revokedOn;
  }
}

/* Counts of each value of `xs`. */
function tally(xs) {
  const m = new Map();
  for (const x of xs) m.set(x, (m.get(x) || 0) + 1);
  return m;
}

/*
 * The store and the audit log agree, both ways (see the file comment).  Refused changes
 * (outcome other than OK) are written apart from any change and are not looked at here.
 */
async function verifyAudit(base, admin, round) {
  const where = `round ${round}, audit log`;
  const entries = (await h.listAll(base, admin, `${V1}/auditLog`, 100, 200)).flatMap((p) => p.result).reverse();
  const ok = entries.filter((e) => e.outcome === 'OK'); // oldest first: the order of the changes
  const targets = (action) => ok.filter((e) => e.action === action).map((e) => e.target);
  stats.audit.entries = entries.length;
  stats.audit.ok = ok.length;

  // API tokens (the load's, the bootstrap token and the ones verify() revoked).
  const tokens = new Map((await h.listAll(base, admin, `${V1}/apiToken`, 100, 200)).flatMap((p) => p.result).map((t) => [t.clientId, t]));
  const creates = tally(targets('apiToken.create'));
  const revokes = new Set(targets('apiToken.revoke'));
  for (const [id, t] of tokens) {
    assert.equal(creates.get(id) || 0, 1, `${where}: token ${id} (${t.description}) is in the store with ${creates.get(id) || 0} OK apiToken.create entries, not 1`);
    if (t.status === 'Revoked') assert.ok(revokes.has(id), `${where}: token ${id} (${t.description}) is Revoked without an OK apiToken.revoke entry`);
  }
  for (const id of creates.keys()) assert.ok(tokens.has(id), `${where}: an OK apiToken.create entry for ${id}, which is not in the store`);
  for (const id of revokes) {
    assert.ok(tokens.has(id) && tokens.get(id).status === 'Revoked', `${where}: an OK apiToken.revoke entry for ${id}, which is ${tokens.has(id) ? tokens.get(id).status : 'not in the store'}`);
  }
  for (const rec of recs.values()) {
    if (rec.create === 'ack') assert.ok(creates.has(rec.clientId), `${where}: the acknowledged create of ${rec.clientId} has no entry`);
    if (rec.revokes.includes('ack')) assert.ok(revokes.has(rec.clientId), `${where}: the acknowledged revoke of ${rec.clientId} has no entry`);
  }

  // Roles: exactly the targets of OK role.create entries (none is deleted: no role.delete).
  const roles = new Map((await h.listAll(base, admin, `${V1}/role`, 100, 100)).flatMap((p) => p.result)
    .filter((r) => !BUILTIN_ROLES.has(r.roleId)).map((r) => [r.roleId, r]));
  const roleCreates = tally(targets('role.create'));
  assert.deepEqual(targets('role.delete'), [], `${where}: role.delete entries, but the test deletes no role`);
  for (const [id, r] of roles) {
    assert.equal(roleCreates.get(id) || 0, 1, `${where}: role ${id} (${r.roleName}) is in the store with ${roleCreates.get(id) || 0} OK role.create entries, not 1`);
  }
  for (const id of roleCreates.keys()) assert.ok(roles.has(id), `${where}: an OK role.create entry for ${id}, which is not in the store`);
  const byName = new Map([...roles.values()].map((r) => [r.roleName, r]));
  for (const rec of roleRecs.values()) {
    const r = byName.get(rec.name);
    if (rec.kind === 'ack') {
      assert.ok(r && r.roleId === rec.roleId, `${where}: the acknowledged create of role ${rec.name} (${rec.roleId}) is not in the store`);
    } else if (rec.kind === 'unknown') {
      if (r) rec.roleId = r.roleId; // happened whole: usable from now on
    } else {
      assert.equal(r, undefined, `${where}: role ${rec.name} exists although its create was ${rec.kind}`);
    }
  }
  stats.audit.roles = roles.size;

  // Privileges: each role's are what its OK grant/revoke entries give, replayed in log order.
  const replayed = new Map();
  for (const e of ok) {
    if (e.action !== 'privilege.grant' && e.action !== 'privilege.revoke') continue;
    assert.ok(roles.has(e.target), `${where}: an OK ${e.action} entry for ${e.target}, which is not in the store`);
    const [kind, name] = e.detail.split(' ');
    const privs = replayed.get(e.target) || new Map();
    replayed.set(e.target, privs);
    if (e.action === 'privilege.grant') privs.set(name, kind);
    else if (privs.get(name) === kind) privs.delete(name);
  }
  let nprivs = 0;
  await pool([...roles.keys()], async (id) => {
    const r = await h.api(base, 'GET', `${V1}/role/${id}/privilege?pageSize=100`, { token: admin });
    assert.equal(r.status, 200, `${where}: GET privileges of ${id}: ${r.status} ${r.text}`);
    const got = r.json.result.map((p) => `${p.grantKind} ${p.privilege}`).sort();
    const want = [...(replayed.get(id) || new Map())].map(([name, kind]) => `${kind} ${name}`).sort();
    assert.deepEqual(got, want, `${where}: the privileges of ${id} are not what its OK grant/revoke entries say`);
    nprivs += got.length;
  });
  const opEntries = tally(ok.map((e) => `${e.target} ${e.action} ${e.detail}`));
  const opAcks = tally(privOps.filter((o) => o.kind === 'ack').map((o) => `${o.roleId} ${o.action} ${o.detail}`));
  for (const [k, n] of opAcks) {
    assert.ok((opEntries.get(k) || 0) >= n, `${where}: ${n} acknowledged "${k}" but ${opEntries.get(k) || 0} OK entries`);
  }
  stats.audit.privileges = nprivs;

  // Users: exactly the targets of OK user.create entries (the first start's admin included).
  const users = new Map((await h.listAll(base, admin, `${V1}/user`, 100, 50)).flatMap((p) => p.result).map((u) => [u.userId, u]));
  const userCreates = tally(targets('user.create'));
  assert.deepEqual(targets('user.delete'), [], `${where}: user.delete entries, but the test deletes no user`);
  for (const [id, u] of users) {
    assert.equal(userCreates.get(id) || 0, 1, `${where}: user ${id} (${u.email}) is in the store with ${userCreates.get(id) || 0} OK user.create entries, not 1`);
  }
  for (const id of userCreates.keys()) assert.ok(users.has(id), `${where}: an OK user.create entry for ${id}, which is not in the store`);
  const byEmail = new Map([...users.values()].map((u) => [u.email, u]));
  for (const rec of userRecs.values()) {
    const u = byEmail.get(rec.email);
    if (rec.kind === 'ack') assert.ok(u && u.userId === rec.userId, `${where}: the acknowledged create of user ${rec.email} is not in the store`);
    else if (rec.kind !== 'unknown') assert.equal(u, undefined, `${where}: user ${rec.email} exists although its create was ${rec.kind}`);
  }
  stats.audit.users = users.size;
}

/* The database file itself: `sqlite3 DB 'PRAGMA integrity_check'` (a reader beside the server). */
function integrity(db, round) {
  const which = spawnSync('sqlite3', ['-version'], { encoding: 'utf8', timeout: 10000 });
  if (which.error || which.status !== 0) {
    stats.integrity = 'skipped (no sqlite3 CLI)';
    return;
  }
  const r = spawnSync('sqlite3', ['-bail', db, 'PRAGMA busy_timeout=5000; PRAGMA integrity_check;'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `round ${round}: sqlite3 integrity_check exited ${r.status}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').filter((l) => l !== '5000');
  assert.deepEqual(lines, ['ok'], `round ${round}: PRAGMA integrity_check: ${r.stdout}`);
  stats.integrity = `ok after each of ${round} restarts`;
}

/* ---- the test --------------------------------------------------------------------------- */

let dir;
let srv;
const logs = [];

after(async () => {
  if (srv && srv.alive()) await srv.stop();
  if (dir && process.env.CRASH_KEEP_DIR) console.log(`crash test: data directory kept in ${dir}`);
  else if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function start() {
  srv = await h.startServer({ dir, args: ['--issuer', ISSUER] });
  logs.push(srv);
  return srv;
}

function serverLogs() {
  return logs.map((s, i) => `--- server ${i} (exit ${JSON.stringify(s.exited)}) stderr:\n${s.stderr.slice(-4000)}`).join('\n');
}

/* Sends sig and waits (bounded) for the process to end; returns {code, signal} or null. */
function signalAndWait(s, sig) {
  const gone = new Promise((resolve) => {
    if (s.exited) resolve(s.exited);
    else s.proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  s.proc.kill(sig);
  return within(gone, KILL_WAIT_MS, null);
}

async function killNow(s) {
  assert.ok(s.alive(), `the server died before its kill:\n${serverLogs()}`);
  const ex = await signalAndWait(s, 'SIGKILL');
  assert.ok(ex, `the killed server was not reaped within ${KILL_WAIT_MS} ms`);
  assert.equal(ex.signal, 'SIGKILL', `the server ended by ${JSON.stringify(ex)}, not by the kill:\n${serverLogs()}`);
}

test(`SIGKILL during a write load, ${ROUNDS} times: nothing acknowledged is lost, nothing is half-written`, { timeout: TEST_DEADLINE_MS + 10000 }, async (t) => {
  RUN_TAG = crypto.randomBytes(4).toString('hex');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-crash-'));
  await start();
  const db = srv.db;

  // An accountadmin token (CLI) and a second role holding ManageSecurity: tokens get either.
  const boot = await h.bootstrap(srv, 'crash-boot');
  const roleRes = await h.api(srv.base, 'POST', `${V1}/role`, { token: boot.access, body: { grantToCreatingRole: true, roleName: `crash_${RUN_TAG}`, roleDescription: 'crash test' } });
  assert.equal(roleRes.status, 200, `POST /role: ${roleRes.status} ${roleRes.text}`);
  const grant = await h.api(srv.base, 'POST', `${V1}/role/${roleRes.json.roleId}/privilege:grant`, { token: boot.access, body: { grantKind: 'Allow', privilege: 'ManageSecurity' } });
  assert.equal(grant.status, 204, `privilege:grant: ${grant.status} ${grant.text}`);
  const roles = [{ roleId: boot.roleId, roleName: 'accountadmin' }, { roleId: roleRes.json.roleId, roleName: roleRes.json.roleName }];
  assert.match(boot.roleId, h.ROLE_ID_RE);

  for (let round = 1; round <= ROUNDS; round++) {
    checkDeadline(`before round ${round}`);
    const t0 = Date.now();
    const ctx = { base: srv.base, admin: boot.access, adminId: boot.clientId, round, roles, killed: false, inFlight: 0, creates: 0, others: 0, users: 0, loadDeadline: Date.now() + KILL_MAX_MS + 10000 };
    const killAt = randInt(KILL_MIN_MS, KILL_MAX_MS);
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(ctx, w));
    await h.sleep(killAt);
    const inFlight = ctx.inFlight;
    ctx.killed = true; // no new requests; those in flight meet the kill
    await killNow(srv);
    stats.inFlightAtKill.push(inFlight);
    stats.killAt.push(killAt);
    const done = await within(Promise.all(workers).then(() => true), REQ_TIMEOUT_MS + 5000, false);
    assert.ok(done, `round ${round}: the load did not stop after the kill`);

    const tKill = Date.now();
    await start();
    const tUp = Date.now();
    try {
      assert.deepEqual(anomalies, [], `round ${round}: the load saw wrong answers while the server was up`);
      await verify(srv, boot, round);
      await verifyAudit(srv.base, boot.access, round);
      integrity(db, round);
      if (round === 1 && stats.integrity.startsWith('skipped')) t.diagnostic(`PRAGMA integrity_check: ${stats.integrity}`);
    } catch (e) {
      e.message += `\nseed ${SEED}\n${serverLogs()}`;
      throw e;
    }
    stats.rounds = round;
    stats.perRoundMs.push(Date.now() - t0);
    t.diagnostic(`round ${round}: kill at ${killAt} ms with ${inFlight} requests in flight; ${recs.size} creates attempted so far; ` +
      `${stats.listed} tokens listed; audit log ${stats.audit.entries} entries (${stats.audit.ok} OK) agreeing with ` +
      `${stats.audit.roles} roles, ${stats.audit.privileges} privileges, ${stats.audit.users} users; ${Date.now() - t0} ms (load ${tKill - t0}, restart ${tUp - tKill}, checks ${Date.now() - tUp})`);
  }

  // Last: a clean stop still works on the crashed-and-recovered database, and the logs are clean.
  const ex = await signalAndWait(srv, 'SIGTERM');
  assert.deepEqual(ex, { code: 0, signal: null }, `clean stop (SIGTERM) after the crashes:\n${serverLogs()}`);
  for (const s of logs) {
    assert.doesNotMatch(s.stderr, /AddressSanitizer|runtime error:|LeakSanitizer/, `sanitizer report:\n${s.stderr}`);
  }

  const ack = (o) => o.ack || 0;
  const unk = (o) => o.unknown || 0;
  const ns = (o) => o.notsent || 0;
  // The test must have tested something: writes acknowledged, and kills that caught requests.
  assert.ok(ack(stats.ops.create) > 0 && ack(stats.ops.revoke) > 0, `no load ran: ${JSON.stringify(stats.ops)}`);
  assert.ok(stats.inFlightAtKill.some((n) => n > 0), `no kill caught a request in flight: ${stats.inFlightAtKill}`);

  const c = stats.checked;
  const summary = `crash summary: seed ${SEED}; ${stats.rounds} SIGKILL rounds at ${stats.killAt.join('/')} ms into the load, ` +
    `with ${stats.inFlightAtKill.join('/')} requests in flight; ` +
    `creates: ${ack(stats.ops.create)} acknowledged, ${unk(stats.ops.create)} unknown (resolved: ${stats.unknownCreates.present} present and whole, ` +
    `${stats.unknownCreates.absent} absent), ${ns(stats.ops.create)} never sent; ` +
    `revokes: ${ack(stats.ops.revoke)} acknowledged, ${unk(stats.ops.revoke)} unknown (resolved: ${stats.unknownRevokes.done} done, ` +
    `${stats.unknownRevokes.notDone} not done), ${ns(stats.ops.revoke)} never sent; ` +
    `RFC 7009 access-token revokes: ${ack(stats.ops.jtiRevoke)} acknowledged, ${unk(stats.ops.jtiRevoke)} unknown ` +
    `(resolved: ${stats.unknownJti.done} done, ${stats.unknownJti.notDone} not done); ` +
    `exchanges: ${ack(stats.ops.exchange)} acknowledged, ${unk(stats.ops.exchange)} unknown; ` +
    `role creates ${ack(stats.ops.roleCreate)}/${unk(stats.ops.roleCreate)}, privilege changes ${ack(stats.ops.privilege)}/${unk(stats.ops.privilege)}, ` +
    `user creates ${ack(stats.ops.userCreate)}/${unk(stats.ops.userCreate)} acknowledged/unknown; ` +
    `checked after every restart (totals): ${c.creates} token records by GET, of them ${c.revokes} with an acknowledged revoke; ` +
    `${c.revokedSecrets} exchanges with revoked secrets refused (${stats.revokedSecretsDistinct.size} distinct secrets; ${stats.throttled} times throttled), ` +
    `${c.revokedAccess} access tokens of revoked tokens refused, ${c.activeSecrets} active secrets and ${c.activeAccess} access tokens accepted, ` +
    `${c.jti} RFC 7009-revoked access tokens refused; ${stats.listed} tokens listed at the end; ` +
    `integrity_check ${stats.integrity}; ${Date.now() - started} ms`;
  t.diagnostic(summary);
});
