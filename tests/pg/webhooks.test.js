'use strict';
// Webhooks on two keygate nodes sharing one PostgreSQL (issue 19): both nodes are configured
// with the same webhook; events made on either node (and by the CLI), many at once, reach the
// receiver each exactly once and in the audit log's order, because one node at a time holds
// the webhook's lease in the store.  When a node stops, the other carries on from the same
// cursor.  A throw-away cluster from scripts/pg.sh, stopped at the end, also on failure.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../e2e/helpers.js');
const { startCluster, startNode: startClusterNode, stopNode } = require('./cluster.js');
const { startReceiver } = require('../e2e/webhook_receiver.js');

const { V1, api, exchange } = h;
const SECRET = 'whsec-two-nodes-0123456789abcdef';
const ADMIN = 'r-0000000001';
let cluster, secretFile, R, A, B, boot;

const cli = (args) => cluster.cli(args);
const startNode = (name) => startClusterNode(cluster, name, ['--webhook', `${R.url} secret-file=${secretFile}`,
  '--webhook-backoff', '1', '--webhook-timeout', '5']);

async function accessOn(node) {
  const r = await h.waitFor(async () => {
    const x = await exchange(node.base, boot.clientId, boot.clientSecret);
    return x.status === 200 ? x : null;
  }, 3000, 50);
  assert.ok(r.ok, `node ${node.name} sees the CLI-made token`);
  return r.value.json.access_token;
}

const targets = () => R.got.map((e) => e.json.data.target);

before(async () => {
  cluster = await startCluster();
  secretFile = path.join(cluster.tmp, 'hook.secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  R = await startReceiver(SECRET);
  A = await startNode('A');
  B = await startNode('B');
  boot = JSON.parse(cli(['token', 'create', '--role', 'accountadmin', '--description', 'boot', '--json']));
  boot.accessA = await accessOn(A);
  boot.accessB = await accessOn(B);
});

after(async () => {
  await stopNode(A);
  await stopNode(B);
  if (R) await R.close();
  if (cluster) cluster.stop();
});

test('two nodes, one webhook: every event made on either node arrives once, in order', async () => {
  // 30 tokens made at once, half on each node, and one by the CLI
  const made = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
    const [node, access] = i % 2 ? [A, boot.accessA] : [B, boot.accessB];
    const r = await api(node.base, 'POST', `${V1}/apiToken`, { token: access, body: { roleId: ADMIN, description: `t${i}` } });
    assert.equal(r.status, 201, r.text);
    return r.json.clientId;
  }));
  made.push(JSON.parse(cli(['token', 'create', '--role', 'accountadmin', '--json'])).clientId);
  const all = await h.waitFor(() => made.every((id) => targets().includes(id)), 30000, 100);
  assert.ok(all.ok, `all ${made.length} events within 30 s (got ${R.got.length})`);
  await h.sleep(2500); // two polls more: a second delivery by the other node would show now
  for (const e of R.got) assert.ok(e.verified.ok, `signed: ${e.verified.why}`);
  const ids = R.got.map((e) => Number(e.json.id.slice(4)));
  assert.equal(new Set(ids).size, ids.length, `each event once: ${ids}`);
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'in the log\'s order');
  for (const id of made) assert.equal(targets().filter((t) => t === id).length, 1, `${id}'s event once`);
  // both nodes report the same state from the store
  const [sa, sb] = await Promise.all([[A, boot.accessA], [B, boot.accessB]].map(async ([n, t]) => {
    const r = await api(n.base, 'GET', `${V1}/webhook`, { token: t });
    assert.equal(r.status, 200);
    return r.json.result[0];
  }));
  assert.equal(sa.delivered, R.got.length);
  assert.equal(sb.delivered, R.got.length);
  assert.equal(sa.pending, 0);
});

test('one node stops: the other delivers from the same cursor, nothing twice, nothing lost', async () => {
  const before = R.got.length;
  await stopNode(A);
  const made = [];
  for (let i = 0; i < 5; i++) {
    const r = await api(B.base, 'POST', `${V1}/apiToken`, { token: boot.accessB, body: { roleId: ADMIN, description: `after${i}` } });
    assert.equal(r.status, 201, r.text);
    made.push(r.json.clientId);
  }
  const all = await h.waitFor(() => made.every((id) => targets().includes(id)), 15000, 100);
  assert.ok(all.ok, 'node B delivers once A has stopped');
  const ids = R.got.map((e) => Number(e.json.id.slice(4)));
  assert.equal(new Set(ids).size, ids.length, 'each event once');
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `in order: ${ids}`);
  assert.equal(R.got.length, before + made.length);
});
