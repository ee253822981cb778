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
// A token's secrets (issue 18): the load also adds secrets (some with an expiresOn, a few
// seconds or a day away), rotates (a grace of 0 or a few seconds) and deletes secrets of the
// tokens it made, mostly of a few of them so that they reach the limits (5 live: a 6th add is
// refused; 10 kept: an add beyond drops the oldest that is not live).  It keeps a model of each
// token's secrets that replays every change at the server's time of it (an add's createdOn), so
// its expectations stay exact.  After every restart each token's secrets are exactly the model's:
// every acknowledged add is listed with its secretId, prefix, description, createdOn and expiresOn
// and its secret exchanges (answer's secret_id its own) unless it was deleted, pruned, rotated
// out or its token revoked; every acknowledged delete's secret is gone; a deleted or expired
// secret's exchange is refused (401 invalid_client) and so are the access tokens issued with it;
// every acknowledged rotation's older secrets expire no later than its answer's time + grace; a
// change whose answer was lost happened completely (a lost add's secret listed, with its
// pruning and its rotation's expiries) or not at all.  The audit log holds, per token and in log
// order, exactly one OK apiToken.secret.add / apiToken.rotate / apiToken.secret.delete entry per
// change the store shows (details "secret <prefix>", "secret <prefix>; older secrets expire in N
// s", "secret <secretId>"), and each listed secret but the token's first has its add entry.
// The refused exchanges come from another loopback source address (127.0.0.2), so that their
// failed client authentications do not slow the load's own (oauth.c throttles by address).
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
const SECRET_SHARE = 0.3; // of the token operations: secret adds, rotations and deletes (issue 18)
const MAX_SECRET_OPS_PER_ROUND = 100;
const HOT_TOKENS = 6; // once this many had secret changes, most (HOT_SHARE) go to them (secretChange())
const HOT_SHARE = 0.85;
const GRACES = [0, 0, 2, 5]; // s: a rotation's older secrets stop at once or a few seconds on
const LIVE_MARGIN_MS = 1000; // a secret that expires sooner than this is not used for an exchange
const LIVE_MAX = 5; // live secrets a token may hold (KG_SECRETS_LIVE_MAX)
const KEPT_MAX = 10; // secrets a token keeps, live or not (KG_SECRETS_MAX)
const SECRET_REFUSALS_PER_RESTART = 26; // exchanges with deleted or expired secrets (see verify())
const SECRET_REFUSALS_PER_TOKEN = 6; // (10 free a client ID a process: oauth.c)
const REFUSAL_ADDR = '127.0.0.2'; // their source address (the load's is 127.0.0.1)
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
 *   olderAccess: former liveAccess whose secret was deleted or expired since (refused)
 *   (each access token as {access, secret}: the secret model it was issued with, below)
 *   secrets, secretOps, pending: its secrets (see "the load's model of a token's secrets")
 */
const recs = new Map();
/* Role, privilege and user changes of the load: {kind ('ack' | 'unknown' | …), …}. */
const roleRecs = new Map(); // by roleName: roleId once acknowledged or found after a restart
const privOps = []; // {roleId, action: 'privilege.grant' | 'privilege.revoke', detail, kind}
const userRecs = new Map(); // by email: userId once acknowledged or found after a restart
const jtiRevokes = []; // {rec, access, secret, kind, confirmed}
const roundKilledAt = []; // by round: when its server was gone (bounds a lost change's time)
const anomalies = []; // things the load saw that are wrong even without a crash
const stats = {
  rounds: 0,
  ops: { create: {}, revoke: {}, exchange: {}, jtiRevoke: {}, roleCreate: {}, privilege: {}, userCreate: {},
    add: {}, rotate: {}, delete: {} },
  checked: { creates: 0, revokes: 0, revokedSecrets: 0, revokedAccess: 0, activeSecrets: 0, activeAccess: 0, jti: 0,
    secretLists: 0, secretsListed: 0, deadSecrets: 0, deadSecretsDistinct: new Set(), deadAccess: 0,
    rotationBounds: 0, secretEntries: 0 },
  secrets: { refusedFull: 0, refusedLast: 0, pruned: 0, unknownAdds: { done: 0, notDone: 0 }, unknownDeletes: { done: 0, notDone: 0 }, maxKept: 0 },
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

/* A refused exchange the throttle answered (429): counted, checked to be short, waited out.
 * True when x was one (the checks of that kind then stop for the round). */
async function throttledAndWaited(x, round) {
  if (x.status !== 429) return false;
  stats.throttled++;
  const wait = Number(x.headers.get('retry-after')) || 1;
  assert.ok(wait <= 5, `round ${round}: throttled for ${wait} s after a few failed exchanges`);
  await h.sleep(wait * 1000 + 100);
  return true;
}
const count = (o, k) => { o[k] = (o[k] || 0) + 1; };

let RUN_TAG = ''; // random per run, in every description: no clash with anything else
const descOf = (round, worker, n) => `crash ${RUN_TAG} r${round} w${worker} n${n}`;
const DESC_RE = /^crash ([0-9a-f]{8}) r(\d+) w(\d+) n(\d+)$/;

/* Tokens a load op may pick: acknowledged, never sent a revoke, no secret change in doubt. */
function activePool() {
  const out = [];
  for (const r of recs.values()) {
    if (r.clientId && r.secret && r.revokes.length === 0 && !r.busy && !r.mustBeRevoked && !r.pending) out.push(r);
  }
  return out;
}

/* ---- the load's model of a token's secrets (issue 18) -----------------------------------
 *
 * rec.secrets: every secret the load knows the token to have had, oldest first (the store's
 * order: a token takes one operation at a time, so its changes commit in the order sent):
 *   {secretId (null for a create's first secret until an exchange or a listing names it),
 *    prefix, text (null: never seen, as a lost add's), desc, createdOn (as answered), exp (ms,
 *    NEVER), initial (the create's), addedBy (op), rotatedBy (op), gone: null | 'deleted' |
 *    'pruned', goneBy (op), checks (refused exchanges tried with it)}
 * rec.secretOps: the secret changes sent for it, in order: {kind: 'add' | 'rotate' | 'delete',
 *   round, outcome ('ack' | 'unknown' | 'notsent' | 'refused', then 'done' | 'lost' for an
 *   unknown one), sent, answered (ms), desc, exp, grace (s), target (a delete's secret),
 *   secret (an add's)}.
 * rec.pending: the change whose answer was lost, until the next restart tells whether it
 *   happened; the token takes no other operation meanwhile (activePool).
 * An add's answer (or a lost add's listing) gives the server's time of the change, createdOn:
 * the limits are counted then, the pruning is done then and a rotation's older secrets expire
 * at createdOn + grace (SQL_SECRET_EXPIRE_ALL), so the model replays each change exactly.  A
 * refusal is checked against what the model allows at some moment between sending and answer.
 */
const NEVER = Infinity;
const SECRET_ID_RE = /^s-\d{10}$/;
const expMs = (iso) => (iso === null ? NEVER : parseTime(iso));
const isoMs = (ms) => (ms === NEVER ? 'never' : new Date(ms).toISOString());
const isoSeconds = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const idNum = (id) => Number(id.slice(2));
const presentSecrets = (rec) => rec.secrets.filter((s) => !s.gone);
const liveAt = (rec, t) => presentSecrets(rec).filter((s) => s.exp > t).length;
const secretName = (m) => `${m.secretId || '(id not seen)'} ${m.prefix} "${m.desc}"`;
const opName = (op) => `${op.kind} ${op.desc} (${op.outcome})`;

/* The moments of [t0, t1] that see every state the token's secrets pass through then. */
function momentsIn(rec, t0, t1) {
  return [t0, ...presentSecrets(rec).map((s) => s.exp).filter((e) => e > t0 && e <= t1)];
}

/* Would deleting x succeed at t (secret_delete_body: not the last secret, nor the last live one)? */
function deletableAt(rec, x, t) {
  const all = presentSecrets(rec).length;
  return !x.gone && !(all <= 1 || (x.exp > t && liveAt(rec, t) <= 1));
}

/* The last moment any of the token's secrets work, as secretsExpireOn says (NEVER: null). */
function expireOnAt(rec, t) {
  const pres = presentSecrets(rec);
  const live = pres.filter((s) => s.exp > t);
  if (live.length === 0) return Math.max(0, ...pres.map((s) => s.exp));
  return Math.max(...live.map((s) => s.exp));
}

/* Secrets the load may exchange with at t: text known, live well past t. */
function usableSecrets(rec, t) {
  return presentSecrets(rec).filter((s) => s.text && s.exp > t + LIVE_MARGIN_MS);
}

/* Replays an add or rotation (op) that made secret s, at the server's time s.createdOn; returns
 * what is wrong with it, or null. */
function applyAdd(rec, op, s) {
  const at = parseTime(s.createdOn);
  const live = liveAt(rec, at);
  if (live >= LIVE_MAX) return `added at ${s.createdOn}, when the token had ${live} live secrets already`;
  const pres = presentSecrets(rec);
  if (pres.length >= KEPT_MAX) { // the oldest that are not live make room (SQL_SECRET_PRUNE)
    for (const x of pres.filter((y) => y.exp <= at).slice(0, pres.length - KEPT_MAX + 1)) {
      x.gone = 'pruned';
      x.goneBy = op;
      stats.secrets.pruned++;
    }
  }
  if (op.kind === 'rotate') {
    const until = at + op.grace * 1000;
    for (const x of presentSecrets(rec)) {
      if (x.exp > until) {
        x.exp = until;
        x.rotatedBy = op;
      }
    }
  }
  s.addedBy = op;
  op.secret = s;
  rec.secrets.push(s);
  stats.secrets.maxKept = Math.max(stats.secrets.maxKept, presentSecrets(rec).length);
  return null;
}

/* An acknowledged add or rotation: its answer checked, then replayed. */
function addAcked(rec, op, r) {
  const j = r.json || {};
  const known = rec.secrets.filter((m) => m.secretId).map((m) => idNum(m.secretId));
  const at = typeof j.createdOn === 'string' && h.TIME_RE.test(j.createdOn) ? parseTime(j.createdOn) : NaN;
  const wrong = r.status !== 201 || j.clientId !== rec.clientId || !SECRET_ID_RE.test(j.secretId || '') ||
    !h.SECRET_RE.test(j.clientSecret || '') || j.secretPrefix !== j.clientSecret.slice(0, 8) ||
    j.description !== op.desc || j.status !== 'Active' || j.lastUsedOn !== null || j.revokedOn !== null ||
    (j.expiresOn === null ? NEVER : Date.parse(j.expiresOn)) !== op.exp ||
    !(at >= op.sent && at <= op.answered) || known.some((n) => n >= idNum(j.secretId));
  if (wrong) return `answered ${r.status} ${r.text.slice(0, 400)} (sent at ${isoMs(op.sent)}, answered at ${isoMs(op.answered)}, expiresOn asked ${isoMs(op.exp)}, the token's secrets so far ${rec.secrets.map(secretName).join(', ')})`;
  return applyAdd(rec, op, { secretId: j.secretId, prefix: j.secretPrefix, text: j.clientSecret, desc: op.desc,
    createdOn: j.createdOn, exp: op.exp, initial: false, gone: null, checks: 0 });
}

/* An acknowledged delete: allowed at some moment it may have run at. */
function deleteAcked(rec, op, r) {
  if (r.status !== 204) return `answered ${r.status} ${r.text.slice(0, 200)}`;
  if (!momentsIn(rec, op.sent, op.answered).some((t) => deletableAt(rec, op.target, t))) {
    return `deleted ${secretName(op.target)} although it was the token's last (live) secret: ${rec.secrets.map(secretName).join(', ')}`;
  }
  op.target.gone = 'deleted';
  op.target.goneBy = op;
  return null;
}

/* A refused secret change: 400 FAILED_PRECONDITION for a limit the model says was reached. */
function secretRefused(rec, op, r) {
  if (r.status !== 400 || !r.json || r.json.status !== 'FAILED_PRECONDITION') return `refused with ${r.status} ${r.text.slice(0, 200)}`;
  if (op.kind === 'delete') {
    if (!momentsIn(rec, op.sent, op.answered).some((t) => !deletableAt(rec, op.target, t))) {
      return `refused to delete ${secretName(op.target)} (${r.text.slice(0, 200)}), not the last (live) one: ${rec.secrets.map(secretName).join(', ')}`;
    }
    stats.secrets.refusedLast++;
  } else {
    if (liveAt(rec, op.sent) < LIVE_MAX) return `refused with ${liveAt(rec, op.sent)} live secrets (${r.text.slice(0, 200)})`;
    stats.secrets.refusedFull++;
  }
  return null;
}

/* One exchange of the load with secret s of rec; checks the answer names s. */
async function loadExchange(ctx, rec, s) {
  ctx.inFlight++;
  const x = await loadCall(ctx.base, 'POST', '/oauth/v2/token', { form: 'grant_type=client_credentials', auth: h.basic(rec.clientId, s.text) });
  ctx.inFlight--;
  count(stats.ops.exchange, x.kind);
  if (x.kind === 'ack') {
    const id = x.json && x.json.secret_id;
    if (s.secretId === null && SECRET_ID_RE.test(id || '') && !rec.secrets.some((m) => m.secretId === id)) {
      s.secretId = id; // the create's first secret: now the load may delete it
    } else if (id !== s.secretId) {
      anomalies.push(`exchange for ${rec.clientId} with ${secretName(s)}: the answer names secret ${id}`);
    }
  } else if (x.kind === 'refused' && s.exp > Date.now()) {
    anomalies.push(`exchange for active ${rec.clientId} with the live ${secretName(s)}: ${x.status} ${x.text.slice(0, 200)}`);
  }
  return x;
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
    if (pool.length > 0 && ctx.secretOps < MAX_SECRET_OPS_PER_ROUND && rand() < SECRET_SHARE) {
      await secretChange(ctx, w, i, pool);
      continue;
    }
    if (mayCreate && (pool.length === 0 || dice < 0.55)) {
      ctx.creates++;
      // create
      const role = roles[randInt(0, roles.length - 1)];
      const desc = descOf(round, w, i);
      const rec = { desc, round, roleId: role.roleId, roleName: role.roleName, create: null, revokes: [],
        preRevokeAccess: [], liveAccess: null, olderAccess: [], mustBeRevoked: false, secrets: null, secretOps: [], pending: null };
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
        rec.secrets = [{ secretId: null, prefix: rec.secret.slice(0, 8), text: rec.secret, desc: '', createdOn: rec.createdOn,
          exp: NEVER, initial: true, gone: null, checks: 0 }];
        if (r.json.description !== desc || r.json.roleId !== role.roleId || r.json.status !== 'Active' || r.json.createdBy !== ctx.adminId) {
          anomalies.push(`create ${desc}: acknowledged with ${r.text.slice(0, 300)}`);
        }
      } else if (r.kind === 'refused') {
        anomalies.push(`create ${desc}: refused while the server was up: ${r.status} ${r.text.slice(0, 200)}`);
      }
    } else if (dice < 0.8) {
      // revoke: first an access token (issued before the revoke), then the revoke itself
      const rec = pool[randInt(0, pool.length - 1)];
      const usable = usableSecrets(rec, Date.now());
      if (usable.length === 0) continue;
      const secret = usable[randInt(0, usable.length - 1)];
      rec.busy = true;
      const x = await loadExchange(ctx, rec, secret);
      if (x.kind !== 'ack') {
        rec.busy = false;
        continue;
      }
      rec.preRevokeAccess.push({ access: x.json.access_token, secret });
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
      const usable = usableSecrets(rec, Date.now());
      if (usable.length === 0) continue;
      const secret = usable[randInt(0, usable.length - 1)];
      rec.busy = true;
      const x = await loadExchange(ctx, rec, secret);
      if (x.kind !== 'ack') { rec.busy = false; continue; }
      const access = x.json.access_token;
      if (rand() < 0.4) {
        const j = { rec, access, secret, kind: null, confirmed: false };
        jtiRevokes.push(j);
        ctx.inFlight++;
        const r = await loadCall(base, 'POST', '/oauth/v2/revoke', { form: `token=${access}&token_type_hint=access_token`, auth: h.basic(rec.clientId, secret.text) });
        ctx.inFlight--;
        j.kind = r.kind;
        count(stats.ops.jtiRevoke, r.kind);
        if (r.kind === 'refused') anomalies.push(`RFC 7009 revoke for ${rec.clientId}: ${r.status} ${r.text.slice(0, 200)}`);
      } else {
        if (rec.liveAccess && rec.liveAccess.secret !== secret) rec.olderAccess.push(rec.liveAccess);
        rec.liveAccess = { access, secret };
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

/*
 * A secret add, rotation or delete on a token of pool (mostly on one that had some before, so
 * that a few tokens reach the limits).  The choice is the model's at sending; the answer is
 * checked against the model and, when acknowledged, replayed in it (see the model above).
 */
async function secretChange(ctx, w, i, pool) {
  const { base, admin, round } = ctx;
  ctx.secretOps++;
  const hot = pool.filter((r) => r.secretOps.length > 0);
  let rec = pool[randInt(0, pool.length - 1)];
  if (hot.length >= HOT_TOKENS && rand() < HOT_SHARE) {
    // half the time the one that keeps the most secrets: some reach KEPT_MAX, and then an add prunes
    const kept = (r) => presentSecrets(r).length;
    rec = rand() < 0.5 ? hot.reduce((a, b) => (kept(b) > kept(a) ? b : a)) : hot[randInt(0, hot.length - 1)];
  }
  rec.busy = true;
  const now = Date.now();
  const withId = presentSecrets(rec).filter((m) => m.secretId);
  const dice = rand();
  let kind;
  if (liveAt(rec, now) >= LIVE_MAX) kind = dice < 0.2 ? 'add' : dice < 0.3 ? 'rotate' : 'delete'; // a 6th: refused
  else kind = dice < 0.45 ? 'add' : dice < 0.8 ? 'rotate' : 'delete';
  if (kind === 'delete' && withId.length === 0) kind = 'add';
  const op = { kind, round, outcome: null, sent: 0, answered: 0, desc: `secret ${RUN_TAG} r${round} w${w} n${i}`, exp: NEVER };
  let method = 'POST';
  let p;
  let body;
  if (kind === 'add') {
    const e = rand();
    if (e < 0.15) op.exp = Math.ceil((now + randInt(3000, 6000)) / 1000) * 1000; // expires during the test
    else if (e < 0.35) op.exp = Math.ceil((now + 86400000) / 1000) * 1000;
    p = `${V1}/apiToken/${rec.clientId}/secret`;
    body = op.exp === NEVER ? { description: op.desc } : { description: op.desc, expiresOn: isoSeconds(op.exp) };
  } else if (kind === 'rotate') {
    op.grace = GRACES[randInt(0, GRACES.length - 1)];
    p = `${V1}/apiToken/${rec.clientId}:rotate`;
    body = { gracePeriodSeconds: op.grace, description: op.desc };
  } else {
    op.target = withId[randInt(0, withId.length - 1)];
    method = 'DELETE';
    p = `${V1}/apiToken/${rec.clientId}/secret/${op.target.secretId}`;
  }
  rec.secretOps.push(op);
  op.sent = Date.now();
  ctx.inFlight++;
  const r = await loadCall(base, method, p, { token: admin, body });
  ctx.inFlight--;
  op.answered = Date.now();
  op.outcome = r.kind;
  count(stats.ops[kind], r.kind);
  let wrong = null;
  if (r.kind === 'unknown') rec.pending = op;
  else if (r.kind === 'ack') wrong = kind === 'delete' ? deleteAcked(rec, op, r) : addAcked(rec, op, r);
  else if (r.kind === 'refused') wrong = secretRefused(rec, op, r);
  if (wrong) anomalies.push(`${kind} ${op.desc} on ${rec.clientId}${kind === 'delete' ? ` (${op.target.secretId})` : ''}: ${wrong}`);
  rec.busy = false;
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

/* A secret as listed: the fields of doc/openapi.json's Secret, well-formed; never Revoked here
 * (the test reports no secret leaked). */
function assertSecretShape(s, clientId, where) {
  const c = `${where}: ${JSON.stringify(s)}`;
  assert.deepEqual(Object.keys(s).sort(), ['clientId', 'createdOn', 'description', 'expiresOn', 'lastUsedOn',
    'revokedOn', 'secretId', 'secretPrefix', 'status'], `keys of ${c}`);
  assert.equal(s.clientId, clientId, c);
  assert.match(s.secretId, SECRET_ID_RE, c);
  assert.match(s.secretPrefix, /^kgs_[0-9A-Za-z]{4}$/, c);
  assert.ok(s.status === 'Active' || s.status === 'Expired', `status: ${c}`);
  assert.match(s.createdOn, h.TIME_RE, c);
  for (const k of ['lastUsedOn', 'expiresOn', 'revokedOn']) assert.ok(s[k] === null || h.TIME_RE.test(s[k]), `${k}: ${c}`);
  h.assertNoSecretMaterial(s);
}

/*
 * Token rec's secrets after a restart, by GET …/secret: the change whose answer was lost (if
 * any) resolved — a lost add's secret is listed (found by its description) with the model's
 * pruning and expiries at its createdOn, or it left no trace; a lost delete's secret is gone or
 * listed unchanged — then the listing is exactly the model, secret by secret (id, prefix,
 * description, createdOn, expiresOn, status, lastUsedOn within its life) and in order; and
 * every rotation that happened has its older secrets expire by its answer's time (or, lost, the
 * kill's) + grace.  The listing is kept in rec.listedSecrets for verifyAudit().
 */
async function verifySecrets(base, admin, rec, tok, round, ctx) {
  const t0 = Date.now();
  const r = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}/secret`, { token: admin });
  const t1 = Date.now();
  assert.equal(r.status, 200, `${ctx}: GET …/secret: ${r.status} ${r.text}`);
  assert.equal(r.json.nextPageToken, '', `${ctx}: a token's secrets come in one page`);
  const listed = r.json.result;
  const where = `${ctx}, secrets listed ${JSON.stringify(listed)}`;
  for (const s of listed) assertSecretShape(s, rec.clientId, ctx);
  assert.ok(listed.length >= 1 && listed.length <= KEPT_MAX, `${where}: from 1 to ${KEPT_MAX} secrets`);
  for (let k = 1; k < listed.length; k++) {
    assert.ok(idNum(listed[k - 1].secretId) < idNum(listed[k].secretId), `${where}: oldest first, each once`);
  }
  rec.listedSecrets = listed;
  stats.checked.secretLists++;
  stats.checked.secretsListed += listed.length;
  const byId = new Map(listed.map((s) => [s.secretId, s]));

  if (!rec.secrets) { // a lost create found present: its one secret, never seen
    assert.equal(listed.length, 1, `${where}: a token of a lost create, whose secrets nobody changed`);
    const [s] = listed;
    rec.secrets = [{ secretId: s.secretId, prefix: s.secretPrefix, text: null, desc: '', createdOn: tok.createdOn,
      exp: NEVER, initial: true, gone: null, checks: 0 }];
  }
  for (const m of rec.secrets) { // the create's first secret, by its prefix until its secretId is seen
    if (m.secretId !== null || m.gone) continue;
    const s = listed.find((x) => x.secretPrefix === m.prefix && !rec.secrets.some((o) => o.secretId === x.secretId));
    assert.ok(s, `${where}: the token's first secret (${m.prefix}) is not listed`);
    m.secretId = s.secretId;
  }

  const op = rec.pending;
  if (op) {
    rec.pending = null;
    const killed = roundKilledAt[op.round];
    if (op.kind === 'delete') {
      if (byId.has(op.target.secretId)) {
        op.outcome = 'lost';
        stats.secrets.unknownDeletes.notDone++;
      } else {
        assert.ok(momentsIn(rec, op.sent, killed).some((t) => deletableAt(rec, op.target, t)),
          `${where}: the lost delete ${op.desc} of ${secretName(op.target)} happened, though that was the token's last (live) secret`);
        op.target.gone = 'deleted';
        op.target.goneBy = op;
        op.outcome = 'done';
        stats.secrets.unknownDeletes.done++;
      }
    } else {
      const s = listed.find((x) => x.description === op.desc);
      if (s) {
        assert.ok(!rec.secrets.some((m) => m.secretId === s.secretId), `${where}: the lost ${op.kind} ${op.desc} names a known secret`);
        const at = parseTime(s.createdOn);
        assert.ok(at >= op.sent && at <= killed,
          `${where}: the lost ${op.kind} ${op.desc} (sent ${isoMs(op.sent)}, the server dead by ${isoMs(killed)}) made ${s.secretId} at ${s.createdOn}`);
        const wrong = applyAdd(rec, op, { secretId: s.secretId, prefix: s.secretPrefix, text: null, desc: op.desc,
          createdOn: s.createdOn, exp: op.exp, initial: false, gone: null, checks: 0 });
        assert.equal(wrong, null, `${where}: the lost ${op.kind} ${op.desc}: ${wrong}`);
        op.outcome = 'done';
        stats.secrets.unknownAdds.done++;
      } else {
        op.outcome = 'lost';
        stats.secrets.unknownAdds.notDone++;
      }
    }
  }

  for (const m of rec.secrets) {
    const s = m.secretId === null ? undefined : byId.get(m.secretId);
    const how = m.initial ? 'the token\'s first' : `made by ${opName(m.addedBy)}`;
    if (m.gone) {
      assert.equal(s, undefined, `${where}: ${secretName(m)} (${how}) was ${m.gone} by ${opName(m.goneBy)} but is listed`);
      continue;
    }
    assert.ok(s, `${where}: ${secretName(m)} (${how}) is not listed; the model: ${rec.secrets.map(secretName).join(', ')}`);
    const w = `${where}: ${m.secretId} (${how})`;
    assert.equal(s.secretPrefix, m.prefix, `${w}: secretPrefix`);
    assert.equal(s.description, m.desc, `${w}: description`);
    assert.equal(s.createdOn, m.createdOn, `${w}: createdOn`);
    assert.equal(expMs(s.expiresOn), m.exp,
      `${w}: expiresOn ${s.expiresOn}, the model says ${isoMs(m.exp)}${m.rotatedBy ? ` (since ${opName(m.rotatedBy)}, grace ${m.rotatedBy.grace} s)` : ''}`);
    assert.equal(s.revokedOn, null, `${w}: revokedOn`);
    const want = m.exp <= t0 ? 'Expired' : m.exp > t1 ? 'Active' : null;
    assert.ok(want ? s.status === want : true, `${w}: status ${s.status}, listed between ${isoMs(t0)} and ${isoMs(t1)}`);
    if (s.lastUsedOn !== null) {
      const u = parseTime(s.lastUsedOn);
      assert.ok(u >= parseTime(s.createdOn) && u < m.exp && u <= t1, `${w}: lastUsedOn ${s.lastUsedOn} outside the secret's life`);
    }
  }
  assert.deepEqual(listed.map((s) => s.secretId), presentSecrets(rec).map((m) => m.secretId),
    `${where}: not the secrets the load made, in their order; the model: ${rec.secrets.map(secretName).join(', ')}`);

  for (const o of rec.secretOps) {
    if (o.kind !== 'rotate' || !o.secret || (o.outcome !== 'ack' && o.outcome !== 'done')) continue;
    const by = (o.outcome === 'ack' ? o.answered : roundKilledAt[o.round]) + o.grace * 1000;
    for (const s of listed) {
      if (idNum(s.secretId) >= idNum(o.secret.secretId)) continue;
      assert.ok(s.expiresOn !== null && parseTime(s.expiresOn) <= by,
        `${where}: ${s.secretId} is older than ${o.secret.secretId} of ${opName(o)} (answered ${isoMs(o.answered)}, grace ${o.grace} s) but expires ${s.expiresOn}`);
      stats.checked.rotationBounds++;
    }
  }
}

/* secretCount and secretsExpireOn of token JSON tok, shown between t0 and t1: the model's then. */
function countsAgree(rec, tok, t0, t1, where) {
  const lo = liveAt(rec, t1);
  const hi = liveAt(rec, t0);
  assert.ok(tok.secretCount >= lo && tok.secretCount <= hi,
    `${where}: secretCount ${tok.secretCount}, the model says ${lo === hi ? lo : `${lo} to ${hi}`}: ${rec.secrets.map((m) => `${secretName(m)} ${m.gone || isoMs(m.exp)}`).join(', ')}`);
  const got = tok.secretsExpireOn === null ? NEVER : parseTime(tok.secretsExpireOn);
  const want = momentsIn(rec, t0, t1).map((t) => expireOnAt(rec, t));
  assert.ok(want.includes(got), `${where}: secretsExpireOn ${tok.secretsExpireOn}, the model says ${want.map(isoMs).join(' or ')}`);
}

/*
 * Deleted, pruned and expired secrets whose text the load knows, at the token endpoint: 401
 * invalid_client.  Each refusal counts as a failed client authentication (oauth.c: 10 free a
 * client ID and 30 an address, for as long as the server runs), so they come from REFUSAL_ADDR,
 * not the load's address, at most SECRET_REFUSALS_PER_RESTART a restart and
 * SECRET_REFUSALS_PER_TOKEN a token: those never tried first, deleted and pruned ones before
 * expired ones (there are fewer of them: each is tried), active tokens' before revoked ones',
 * the latest to stop first; stop at the first 429 and wait it out.
 */
async function verifyDeadSecrets(srv, toCheck, round) {
  const t = Date.now();
  const stopped = (m) => (m.gone ? m.goneBy.answered : m.exp);
  const dead = [];
  for (const rec of toCheck) {
    for (const m of rec.secrets || []) if (m.text && (m.gone || m.exp <= t)) dead.push({ rec, m });
  }
  const rank = ({ rec, m }) => [Math.min(m.checks, 1), m.gone ? 0 : 1, rec.mustBeRevoked ? 1 : 0, -stopped(m)];
  const order = (a, b) => rank(a).reduce((d, x, k) => d || x - rank(b)[k], 0);
  dead.sort(order);
  const perToken = new Map();
  let n = 0;
  for (const { rec, m } of dead) {
    if (n >= SECRET_REFUSALS_PER_RESTART) break;
    if ((perToken.get(rec) || 0) >= SECRET_REFUSALS_PER_TOKEN) continue;
    perToken.set(rec, (perToken.get(rec) || 0) + 1);
    n++;
    const x = await h.postFrom(srv.port, REFUSAL_ADDR, '/oauth/v2/token', 'grant_type=client_credentials',
      { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: h.basic(rec.clientId, m.text) });
    if (await throttledAndWaited(x, round)) break;
    const why = m.gone ? `${m.gone} by ${opName(m.goneBy)}` : `expired ${isoMs(m.exp)}${m.rotatedBy ? ` (${opName(m.rotatedBy)})` : ''}`;
    h.assertOAuthError(x, 401, 'invalid_client', `round ${round}, ${rec.clientId}: exchange with ${secretName(m)}, ${why}`);
    m.checks++;
    stats.checked.deadSecrets++;
    stats.checked.deadSecretsDistinct.add(m);
  }
}

async function verify(srv, boot, round) {
  const base = srv.base;
  const admin = boot.access;
  const now = Date.now();

  // Every record, through the paginated list: complete, well-formed, no duplicate, none unexplained.
  const pages = await h.listAll(base, admin, `${V1}/apiToken`, 100, 100);
  const listedUntil = Date.now(); // the list's secretCount and secretsExpireOn are of [now, listedUntil]
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
    const tGet = Date.now();
    const g = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}`, { token: admin });
    const tGot = Date.now();
    assert.equal(g.status, 200, `${ctx}: GET by clientId: ${g.status} ${g.text}`);
    h.assertTokenShape(g.json);
    assert.equal(g.json.description, rec.desc, `${ctx}: description`);
    assert.equal(g.json.roleId, rec.roleId, `${ctx}: roleId`);
    // the same record by GET as in the list (Last access may have moved on since, and a secret
    // may have expired: its secretCount and secretsExpireOn are checked against the model below)
    const same = (t) => ({ ...t, lastAccessOn: null, secretCount: null, secretsExpireOn: null });
    assert.deepEqual(same(g.json), same(rec.listed), `${ctx}: GET and list disagree`);
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

    // Its secrets: exactly the model's (a lost change resolved first); the counts the token shows.
    await verifySecrets(base, admin, rec, g.json, round, ctx);
    countsAgree(rec, g.json, tGet, tGot, `${ctx}, by GET`);
    countsAgree(rec, rec.listed, now, listedUntil, `${ctx}, in the list`);

    if (!rec.secret) return; // a lost create found present: its secret was never seen
    if (g.json.status === 'Revoked') {
      revokedWithSecret.push(rec);
      for (const a of [...rec.preRevokeAccess, ...rec.olderAccess]) {
        const r = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}`, { token: a.access });
        h.assertUnauthenticated(r, `${ctx}: an access token issued before the revoke`);
        stats.checked.revokedAccess++;
      }
      if (rec.liveAccess) {
        const r = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}`, { token: rec.liveAccess.access });
        h.assertUnauthenticated(r, `${ctx}: an older access token of a revoked token`);
        stats.checked.revokedAccess++;
      }
    } else {
      // Every live secret whose text the load knows exchanges, and the answer names it.
      let fresh = null;
      for (const m of usableSecrets(rec, Date.now())) {
        const x = await h.exchange(base, rec.clientId, m.text);
        assert.equal(x.status, 200, `${ctx}: exchange with the live ${secretName(m)} (${m.initial ? 'the first' : opName(m.addedBy)}): ${x.status} ${x.text}`);
        assert.equal(x.json.secret_id, m.secretId, `${ctx}: the exchange with ${secretName(m)} names another secret`);
        stats.checked.activeSecrets++;
        fresh = fresh || { access: x.json.access_token, secret: m };
      }
      const dead = (a) => a.secret.gone || a.secret.exp <= Date.now();
      if (rec.liveAccess && dead(rec.liveAccess)) {
        rec.olderAccess.push(rec.liveAccess);
        rec.liveAccess = null;
      }
      rec.liveAccess = rec.liveAccess || fresh;
      // An access token works while the secret it was issued with does (access.c).
      for (const a of [rec.liveAccess, ...rec.preRevokeAccess, ...rec.olderAccess]) {
        if (!a) continue;
        const t = Date.now();
        const gone = dead(a);
        if (!gone && a.secret.exp <= t + LIVE_MARGIN_MS) continue; // its secret expires about now
        const r = await h.api(base, 'GET', `${V1}/apiToken/${rec.clientId}`, { token: a.access });
        if (gone) {
          h.assertUnauthenticated(r, `${ctx}: an access token issued with ${secretName(a.secret)}, ${a.secret.gone || `expired ${isoMs(a.secret.exp)}`}`);
          stats.checked.deadAccess++;
        } else {
          assert.equal(r.status, 200, `${ctx}: an access token of an active token (issued before the kill with the live ${secretName(a.secret)}) is refused: ${r.status} ${r.text}`);
          stats.checked.activeAccess++;
        }
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
    // with a secret that is live: one expired or deleted would be refused for that, and count as
    // a failed authentication (the checks below)
    const [m] = usableSecrets(rec, Date.now());
    if (!m) continue;
    const x = await h.exchange(base, rec.clientId, m.text);
    if (await throttledAndWaited(x, round)) break;
    h.assertOAuthError(x, 401, 'invalid_client', `round ${round}, ${rec.clientId}: exchange with a revoked token's secret`);
    rec.secretChecks = (rec.secretChecks || 0) + 1;
    stats.checked.revokedSecrets++;
    stats.revokedSecretsDistinct.add(rec.clientId);
  }

  // Deleted, pruned and expired secrets at the token endpoint: refused (401 invalid_client).
  await verifyDeadSecrets(srv, toCheck, round);

  // RFC 7009 revocations of single access tokens.
  await pool(jtiRevokes, async (j) => {
    if (j.rec.mustBeRevoked) return; // the whole token is revoked: refused anyway, checked above
    const t = Date.now();
    const dead = j.secret.gone || j.secret.exp <= t;
    if (!dead && j.secret.exp <= t + LIVE_MARGIN_MS) return; // its secret expires about now
    const r = await h.api(base, 'GET', `${V1}/apiToken/${j.rec.clientId}`, { token: j.access });
    const ctx = `round ${round}, RFC 7009 revoke of an access token of ${j.rec.clientId} (${j.kind})`;
    if (dead) { // refused for its secret: that says nothing of its own revoke
      h.assertUnauthenticated(r, `${ctx}: issued with ${secretName(j.secret)}, ${j.secret.gone || 'expired'}`);
      stats.checked.deadAccess++;
      return;
    }
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

  // Secrets (issue 18).  Per token and in log order, exactly one OK entry per change that
  // happened (acknowledged, or lost and found done by verifySecrets), with service.c's detail:
  // the model is what the store lists (verifySecrets), so the log and the store agree both ways,
  // lost changes included (in both or in neither).  And from the listing alone: each secret
  // but the token's first (description '', made with the token) has an add or rotate entry
  // with its prefix, and none has a delete entry.
  const secretEntries = new Map();
  for (const e of ok) {
    if (e.action !== 'apiToken.secret.add' && e.action !== 'apiToken.rotate' && e.action !== 'apiToken.secret.delete') continue;
    assert.ok(tokens.has(e.target), `${where}: an OK ${e.action} entry for ${e.target}, which is not in the store`);
    if (!secretEntries.has(e.target)) secretEntries.set(e.target, []);
    secretEntries.get(e.target).push(e);
  }
  const changed = new Map([...recs.values()].filter((r) => r.clientId && r.secrets && tokens.has(r.clientId)).map((r) => [r.clientId, r]));
  for (const [id, es] of secretEntries) {
    assert.ok(changed.has(id), `${where}: OK secret entries for ${id}, whose secrets the load never changed: ${JSON.stringify(es)}`);
  }
  let nsecret = 0;
  for (const rec of changed.values()) {
    const es = secretEntries.get(rec.clientId) || [];
    const want = [];
    for (const op of rec.secretOps) {
      if (op.outcome !== 'ack' && op.outcome !== 'done') continue;
      if (op.kind === 'delete') want.push(`apiToken.secret.delete secret ${op.target.secretId}`);
      else if (op.kind === 'add') want.push(`apiToken.secret.add secret ${op.secret.prefix}`);
      else want.push(`apiToken.rotate secret ${op.secret.prefix}; older secrets expire in ${op.grace} s`);
    }
    assert.deepEqual(es.map((e) => `${e.action} ${e.detail}`), want,
      `${where}: the OK secret entries of ${rec.clientId} are not the changes its secrets show, in order (sent: ${rec.secretOps.map(opName).join(', ')})`);
    nsecret += es.length;
    const created = tokens.get(rec.clientId).createdOn;
    for (const s of rec.listedSecrets) {
      const first = s.description === '' && s.createdOn === created;
      const adds = es.filter((e) => e.action !== 'apiToken.secret.delete' && e.detail.split(';')[0] === `secret ${s.secretPrefix}`).length;
      const made = rec.secrets.filter((m) => !m.initial && m.prefix === s.secretPrefix).length; // 1 but for a prefix clash
      assert.ok(first || adds >= 1, `${where}: ${rec.clientId}'s secret ${s.secretId} (${s.secretPrefix}) is in the store without an OK add or rotate entry`);
      assert.equal(adds, made, `${where}: ${rec.clientId}'s secret ${s.secretId} (${s.secretPrefix}): ${adds} OK add or rotate entries with its prefix`);
      assert.ok(!es.some((e) => e.action === 'apiToken.secret.delete' && e.detail === `secret ${s.secretId}`),
        `${where}: ${rec.clientId}'s secret ${s.secretId} is in the store with an OK delete entry`);
    }
  }
  stats.checked.secretEntries = nsecret;

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
    const ctx = { base: srv.base, admin: boot.access, adminId: boot.clientId, round, roles, killed: false, inFlight: 0, creates: 0, others: 0, users: 0, secretOps: 0, loadDeadline: Date.now() + KILL_MAX_MS + 10000 };
    const killAt = randInt(KILL_MIN_MS, KILL_MAX_MS);
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(ctx, w));
    await h.sleep(killAt);
    const inFlight = ctx.inFlight;
    ctx.killed = true; // no new requests; those in flight meet the kill
    await killNow(srv);
    roundKilledAt[round] = Date.now(); // a change whose answer the kill cut happened before this
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
      `${stats.audit.roles} roles, ${stats.audit.privileges} privileges, ${stats.audit.users} users, ${stats.checked.secretEntries} secret changes ` +
      `of ${stats.checked.secretsListed} secrets listed; ${Date.now() - t0} ms (load ${tKill - t0}, restart ${tUp - tKill}, checks ${Date.now() - tUp})`);
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
  assert.ok(ack(stats.ops.add) > 0 && ack(stats.ops.rotate) > 0 && ack(stats.ops.delete) > 0, `no secret changes ran: ${JSON.stringify(stats.ops)}`);
  assert.ok(stats.inFlightAtKill.some((n) => n > 0), `no kill caught a request in flight: ${stats.inFlightAtKill}`);

  const c = stats.checked;
  const deletes = [...recs.values()].flatMap((r) => r.secretOps).filter((o) => o.kind === 'delete' && o.outcome === 'ack' && o.target.text);
  const deletesTried = deletes.filter((o) => o.target.checks > 0).length;
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
    `secret adds ${ack(stats.ops.add)}, rotations ${ack(stats.ops.rotate)}, deletes ${ack(stats.ops.delete)} acknowledged; ` +
    `${unk(stats.ops.add) + unk(stats.ops.rotate)} adds and rotations unknown (resolved: ${stats.secrets.unknownAdds.done} done, ` +
    `${stats.secrets.unknownAdds.notDone} not done), ${unk(stats.ops.delete)} deletes unknown (resolved: ${stats.secrets.unknownDeletes.done} done, ` +
    `${stats.secrets.unknownDeletes.notDone} not done), ${ns(stats.ops.add) + ns(stats.ops.rotate) + ns(stats.ops.delete)} never sent; ` +
    `refused as the model said: ${stats.secrets.refusedFull} adds or rotations beyond ${LIVE_MAX} live, ${stats.secrets.refusedLast} deletes of the last (live) secret; ` +
    `${stats.secrets.pruned} secrets pruned beyond ${KEPT_MAX} kept (a token held at most ${stats.secrets.maxKept}); ` +
    `checked after every restart (totals): ${c.creates} token records by GET, of them ${c.revokes} with an acknowledged revoke; ` +
    `${c.revokedSecrets} exchanges with revoked secrets refused (${stats.revokedSecretsDistinct.size} distinct secrets; ${stats.throttled} times throttled), ` +
    `${c.revokedAccess} access tokens of revoked tokens refused, ${c.activeSecrets} active secrets and ${c.activeAccess} access tokens accepted, ` +
    `${c.jti} RFC 7009-revoked access tokens refused; ${c.secretLists} secret lists (${c.secretsListed} secrets) equal to the model, ` +
    `${c.rotationBounds} older secrets within their rotation's grace, ${c.deadSecrets} exchanges with deleted, pruned or expired secrets refused ` +
    `(${c.deadSecretsDistinct.size} distinct; ${deletesTried} of the ${deletes.length} acknowledged deletes' secrets), ${c.deadAccess} access tokens of such secrets refused, ${c.secretEntries} OK secret entries at the end; ` +
    `${stats.listed} tokens listed at the end; ` +
    `integrity_check ${stats.integrity}; ${Date.now() - started} ms`;
  t.diagnostic(summary);
});
