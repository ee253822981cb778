'use strict';
// A token's rate limit on two keygate nodes sharing one PostgreSQL database (issue 19).
//
// The limit is shared: each node writes what it admitted in the current window to the store at
// every usage flush (--usage-flush-ms) and charges to its own bucket what the others wrote.
// So once a node has heard of the others' admissions it refuses exactly as one node would, and
// before that it may overshoot by what the others admitted since it last heard from them.
//
// The tests wait for that sharing without guessing at timing: `settled(node)` counts a gate
// check of a marker token on the node and waits for it to reach the store, twice.  Flushes
// run one at a time; the second count is written only by a flush after the one that wrote the
// first, and that one began after the first check, so by then the node has written its
// admissions and charged the others' as they stood when settled() began.  Buckets hold N
// requests a period of an hour: refill (one request every 3600/N s) plays no part within a
// test, so the counts below are exact.  Usage counts are added to by every node: either node
// answers the sum.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../e2e/helpers.js');
const { startCluster, startNode, stopNode } = require('./cluster.js');

const { V1, api, exchange } = h;
const FLUSH_MS = 200;
const PERIOD_S = 3600;
let cluster, A, B, boot, admin, marker;
const extraNodes = [];

before(async () => {
  cluster = await startCluster();
  const policy = path.join(cluster.tmp, 'policy.txt');
  fs.writeFileSync(policy, 'GET /api/* ManageSecurity\n');
  const opts = ['--policy', policy, '--usage-flush-ms', String(FLUSH_MS)];
  cluster.nodeOptions = opts;
  A = await startNode(cluster, 'A', opts);
  B = await startNode(cluster, 'B', opts);
  boot = JSON.parse(cluster.cli(['token', 'create', '--role', 'accountadmin', '--description', 'boot', '--json']));
  const r = await h.waitFor(async () => {
    const x = await exchange(A.base, boot.clientId, boot.clientSecret);
    return x.status === 200 ? x : null;
  }, 2000, 50);
  assert.ok(r.ok, 'node A sees the CLI-made token');
  admin = r.value.json.access_token;
  marker = await limitedToken(null);
});

after(() => {
  for (const n of [A, B, ...extraNodes]) stopNode(n);
  if (cluster) cluster.stop();
});

/* A new token with role accountadmin and rateLimit {requests, PERIOD_S} (none when requests is
 * null), known to both nodes; with an access token. */
async function limitedToken(requests, nodes = [A, B]) {
  const body = { description: 'rate', roleId: 'r-0000000001' };
  if (requests) body.rateLimit = { requests, periodSeconds: PERIOD_S };
  const c = await api(A.base, 'POST', `${V1}/apiToken`, { token: admin, body });
  assert.equal(c.status, 201, c.text);
  assert.deepEqual(c.json.rateLimit, requests ? { requests, periodSeconds: PERIOD_S } : null);
  let access;
  for (const n of nodes) { // exchanges are not rate-limited
    const x = await h.waitFor(async () => {
      const e = await exchange(n.base, c.json.clientId, c.json.clientSecret);
      return e.status === 200 ? e : null;
    }, 2000, 20);
    assert.ok(x.ok, `node ${n.name} knows the new token`);
    access = x.value.json.access_token;
  }
  return { clientId: c.json.clientId, access, exchanges: nodes.length };
}

/* One gate check with t's access token on node n: {status, r (RateLimit's remaining, or
 * null), retryAfter}. */
async function gate(n, t) {
  const res = await fetch(`${n.base}/gate`, {
    headers: { Authorization: `Bearer ${t.access}`, 'X-Original-Method': 'GET', 'X-Original-URI': '/api/x' },
    signal: AbortSignal.timeout(10000),
  });
  await res.arrayBuffer();
  const rl = res.headers.get('ratelimit');
  const m = rl && /^"token";r=(\d+);t=(\d+)$/.exec(rl);
  if (rl) assert.ok(m, `RateLimit header: ${rl}`);
  if (res.status === 204) assert.equal(res.headers.get('x-keygate-client-id'), t.clientId);
  const retry = res.headers.get('retry-after');
  return { status: res.status, r: m ? Number(m[1]) : null, retryAfter: retry === null ? null : Number(retry),
    policy: res.headers.get('ratelimit-policy') };
}

/* t's usage totals as node n answers them. */
async function usage(n, t) {
  const u = await api(n.base, 'GET', `${V1}/apiToken/${t.clientId}/usage`, { token: admin });
  assert.equal(u.status, 200, u.text);
  return u.json.totals;
}

/* Waits until node n has completed a usage flush (and rate-limit sync) that began after this
 * call (see the comment at the top). */
async function settled(n) {
  for (let i = 0; i < 2; i++) {
    const before = (await usage(A, marker)).gateAllowed;
    assert.equal((await gate(n, marker)).status, 204, 'the marker passes');
    const seen = await h.waitFor(async () => (await usage(A, marker)).gateAllowed === before + 1, 10000, FLUSH_MS / 2);
    assert.ok(seen.ok, `node ${n.name} wrote its usage counts within 10 s`);
  }
}

/* Sends up to `max` gate checks of t to n until the first refusal; returns the answers. */
async function untilRefused(n, t, max) {
  const out = [];
  for (let i = 0; i < max; i++) {
    const g = await gate(n, t);
    out.push(g);
    if (g.status !== 204) break;
  }
  return out;
}

/* Asserts the answers are `admitted` passes, with RateLimit's remaining counting down from
 * `from`, then one 429 with r=0 and a Retry-After. */
function assertRun(answers, admitted, from, what) {
  assert.equal(answers.length, admitted + 1, `${what}: ${JSON.stringify(answers)}`);
  answers.slice(0, admitted).forEach((g, i) => {
    assert.equal(g.status, 204, `${what}: answer ${i}`);
    assert.equal(g.r, from - i, `${what}: remaining after answer ${i}`);
  });
  const last = answers[admitted];
  assert.equal(last.status, 429, `${what}: refused`);
  assert.equal(last.r, 0);
  assert.ok(last.retryAfter >= 1, `${what}: Retry-After ${last.retryAfter}`);
}

/* Both nodes answer the same usage totals for t: the sums of both nodes' counts. */
async function assertUsage(t, want) {
  const a = await usage(A, t), b = await usage(B, t);
  assert.deepEqual(b, a, 'both nodes answer the same totals');
  const expect = { exchanges: t.exchanges, gateAllowed: 0, apiCalls: 0, refusedPrivilege: 0, refusedRateLimit: 0,
    refusedAddress: 0, refusedExpired: 0, ...want };
  for (const [k, v] of Object.entries(expect)) assert.equal(a[k], v, `usage ${k}`);
  assert.equal(a.refused, expect.refusedPrivilege + expect.refusedRateLimit + expect.refusedAddress + expect.refusedExpired);
  assert.equal(a.requests, expect.exchanges + expect.gateAllowed + expect.apiCalls + a.refused);
}

test('a token that used up its limit on node A is refused on node B once B has heard of it', async () => {
  const N = 10;
  const t = await limitedToken(N);
  const onA = await untilRefused(A, t, N + 5);
  assertRun(onA, N, N - 1, 'node A');
  assert.equal(onA[0].policy, `"token";q=${N};w=${PERIOD_S}`);
  await settled(A);
  await settled(B);
  const onB = await gate(B, t);
  assert.equal(onB.status, 429, 'node B refuses: the limit is shared');
  assert.equal(onB.r, 0);
  assert.ok(onB.retryAfter >= 1 && onB.retryAfter <= PERIOD_S / N, `Retry-After ${onB.retryAfter}`);
  await settled(B);
  await settled(A);
  await assertUsage(t, { gateAllowed: N, refusedRateLimit: 2 });
});

test('driven alternately, the two nodes admit exactly the limit between them', async () => {
  const N = 12;
  const t = await limitedToken(N);
  const first = [];
  for (let i = 0; i < N / 2; i++) first.push(await gate(A, t));
  assert.deepEqual(first.map((g) => [g.status, g.r]), first.map((_, i) => [204, N - 1 - i]));
  await settled(A);
  await settled(B);
  // B starts from what A left: remaining counts down from N/2 - 1 (A's half charged to B).
  assertRun(await untilRefused(B, t, N + 5), N / 2, N / 2 - 1, 'node B');
  await settled(B);
  await settled(A);
  assertRun(await untilRefused(A, t, N + 5), 0, 0, 'node A afterwards');
  await settled(A);
  await assertUsage(t, { gateAllowed: N, refusedRateLimit: 2 });
});

test('driven at once, the two nodes admit at least the limit and less than twice it; usage counts add up', async () => {
  const N = 40;
  const t = await limitedToken(N);
  // Each node gets a check every 50 ms until it has refused 5 in a row (bounded: 400 checks or
  // 40 s a node).  Alone, each node would pass all N (taking 2 s, ten flush intervals); the
  // README's bound (what the other admitted in about two flush intervals, plus at most its one
  // burst) allows up to 2N in all; sharing stops them well before that.
  const drive = async (n) => {
    const out = [];
    const deadline = Date.now() + 40000;
    for (let i = 0, refusedInRow = 0; i < 400 && refusedInRow < 5 && Date.now() < deadline; i++) {
      const g = await gate(n, t);
      assert.ok(g.status === 204 || g.status === 429, `node ${n.name}: ${g.status}`);
      assert.notEqual(g.r, null, 'every answer carries RateLimit');
      refusedInRow = g.status === 429 ? refusedInRow + 1 : 0;
      out.push(g);
      await h.sleep(50);
    }
    return out;
  };
  const [onA, onB] = await Promise.all([drive(A), drive(B)]);
  const passed = (xs) => xs.filter((g) => g.status === 204).length;
  const total = passed(onA) + passed(onB);
  // What each node had learnt of the other at its last pass: N - remaining - its own passes.
  const learnt = (xs) => {
    const own = passed(xs);
    const last = xs.filter((g) => g.status === 204).pop();
    return last ? N - last.r - own : 0;
  };
  console.log(`# limit ${N}: node A passed ${passed(onA)}, node B ${passed(onB)}, total ${total} ` +
    `(overshoot ${total - N}); at their last pass A had charged ${learnt(onA)} of B's, B ${learnt(onB)} of A's`);
  assert.ok(total >= N, `total ${total} < the limit ${N}: a node refused before the bucket was empty`);
  assert.ok(total < 2 * N, `total ${total}: each node passed its own full limit, nothing was shared`);
  assert.ok(learnt(onA) > 0 || learnt(onB) > 0, 'a node charged the other\'s passes during the run');
  // Once settled, both refuse.
  await settled(A);
  await settled(B);
  const lateA = await gate(A, t), lateB = await gate(B, t);
  assert.deepEqual([lateA.status, lateB.status, lateA.r, lateB.r], [429, 429, 0, 0]);
  await settled(A);
  await settled(B);
  const refused = onA.length + onB.length - total + 2;
  await assertUsage(t, { gateAllowed: total, refusedRateLimit: refused });
});

test('with --no-usage-counts the limit is still shared', async () => {
  const C = await startNode(cluster, 'C', [...cluster.nodeOptions, '--no-usage-counts']);
  extraNodes.push(C);
  const D = await startNode(cluster, 'D', [...cluster.nodeOptions, '--no-usage-counts']);
  extraNodes.push(D);
  const N = 20;
  const t = await limitedToken(N, [C, D]);
  assertRun(await untilRefused(C, t, N + 5), N, N - 1, 'node C');
  // No usage counts to wait on: D is checked every 250 ms (at most 40 times) until it refuses.
  // Had it not heard of C, it would pass all N first; it hears within a few flush intervals.
  const onD = [];
  for (let i = 0; i < 40; i++) {
    const g = await gate(D, t);
    onD.push(g);
    if (g.status === 429) break;
    await h.sleep(250);
  }
  const passedD = onD.filter((g) => g.status === 204).length;
  console.log(`# --no-usage-counts: node D passed ${passedD} after node C used up the limit of ${N}`);
  assert.equal(onD[onD.length - 1].status, 429, 'node D refuses');
  assert.ok(passedD < N / 2, `node D passed ${passedD} of ${N}: it did not hear of node C's passes`);
  const u = await usage(A, t);
  assert.equal(u.gateAllowed + u.refusedRateLimit, 0, 'nothing counted');
});
