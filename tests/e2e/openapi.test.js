'use strict';
// The published contract (issue 17): doc/openapi.json is a valid OpenAPI 3.1 document (checked
// by @seriousme/openapi-schema-validator), keygate serves it unauthenticated at
// /public/api/v1/openapi.json, it lists exactly the routes of src/http/route.c's table with
// their privileges, and the error envelope carries Google's error details as the document
// says.  (Every answer of every end-to-end test is held to the document by helpers.js.)

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers.js');
const contract = require('./contract.js');

const { V1, api } = h;
const ROOT = path.resolve(__dirname, '../..');
const doc = JSON.parse(fs.readFileSync(contract.DOC_PATH, 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const T = 'type.googleapis.com/google.rpc.';

/* Every operation: [method, path, operation]. */
const operations = Object.entries(doc.paths).flatMap(([p, item]) =>
  METHODS.filter((m) => item[m]).map((m) => [m.toUpperCase(), p, item[m]]));

let srv;
let boot;

before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv);
});

after(async () => {
  if (srv) await srv.stop();
});

test('the document is a valid OpenAPI 3.1 document', async () => {
  const { Validator } = await import('@seriousme/openapi-schema-validator');
  const v = new Validator();
  const res = await v.validate(doc);
  assert.equal(v.version, '3.1', 'validated as OpenAPI 3.1');
  assert.ok(res.valid, `doc/openapi.json is not valid OpenAPI: ${String(JSON.stringify(res.errors, null, 1)).slice(0, 3000)}`);
  const ids = operations.map(([, , o]) => o.operationId);
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  // every schema compiles (ajv, draft 2020-12) and every $ref resolves
  const st = contract.load();
  for (const name of Object.keys(doc.components.schemas)) assert.ok(st.ajv.getSchema(`kg#/$defs/${name}`), `schema ${name} compiles`);
});

test('GET /public/api/v1/openapi.json serves the document, without authentication and cacheable', async () => {
  const r = await api(srv.base, 'GET', `${V1}/openapi.json`);
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.match(r.headers.get('cache-control'), /^public, max-age=\d+$/);
  assert.equal(r.text, fs.readFileSync(contract.DOC_PATH, 'utf8'), 'the bytes of doc/openapi.json');
  h.assertApiError(await api(srv.base, 'POST', `${V1}/openapi.json`), 405, 'METHOD_NOT_ALLOWED');
});

/* The rows of route.c's table: {method, path, privilege, handler}, paths as in the document
 * but with "{}" for each parameter. */
function routeTable() {
  const src = fs.readFileSync(path.join(ROOT, 'src/http/route.c'), 'utf8');
  const privs = Object.fromEntries([...fs.readFileSync(path.join(ROOT, 'src/domain/privilege.h'), 'utf8')
    .matchAll(/#define (PRIV_[A-Z_]+) "([^"]+)"/g)].map((m) => [m[1], m[2]]));
  const table = src.slice(src.indexOf('static const struct route routes[]'), src.indexOf('/* clang-format on */'));
  const rows = [];
  const re = /\{"([A-Z*]+)",\s*(V1 )?"([^"]+)",\s*(\w+),\s*(AUTH_\w+),\s*(NULL|PRIV_\w+)/g;
  for (const m of table.matchAll(re)) {
    rows.push({ method: m[1], path: (m[2] ? V1 : '') + m[3], handler: m[4], auth: m[5], privilege: m[6] === 'NULL' ? null : privs[m[6]] });
  }
  assert.ok(rows.length > 30, `read route.c's table (${rows.length} rows)`);
  return rows;
}

const PANE_PAGES = new Set(['pane_root', 'pane_login_page', 'pane_app_page', 'pane_asset']);
const generic = (p) => p.replace(/\{[^}]+\}/g, '{}');

test('the document and the route table list the same routes, with the same privileges', () => {
  const rows = routeTable().filter((r) => !PANE_PAGES.has(r.handler));
  const documented = new Map(operations.map(([m, p, o]) => [`${m} ${generic(p)}`, o]));
  for (const r of rows) {
    const methods = r.method === '*' ? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] : [r.method];
    for (const m of methods) {
      const o = documented.get(`${m} ${r.path}`);
      assert.ok(o, `route ${m} ${r.path} (${r.handler}) is in doc/openapi.json`);
      if (r.path.startsWith(`${V1}/`) && r.auth === 'AUTH_API') {
        assert.ok('x-keygate-privilege' in o, `${m} ${r.path}: x-keygate-privilege`);
        assert.equal(o['x-keygate-privilege'], r.privilege, `${m} ${r.path}: the route's privilege`);
      }
      assert.deepEqual(o.security.length > 0, r.auth !== 'AUTH_NONE', `${m} ${r.path}: security as the route's authentication`);
    }
  }
  const served = new Set(rows.flatMap((r) => (r.method === '*' ? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] : [r.method]).map((m) => `${m} ${r.path}`)));
  for (const [m, p, o] of operations) {
    assert.ok(served.has(`${m} ${generic(p)}`), `${m} ${p} is documented but not in route.c's table`);
    assert.equal(o['x-keygate-pending'], undefined, `${m} ${p}: every operation is served and checked; none is pending`);
  }
});

test('keygate\'s own additions are marked x-keygate; Galaxy\'s are not', () => {
  const keygateTags = new Set(doc.tags.filter((t) => t['x-keygate']).map((t) => t.name));
  for (const [m, p, o] of operations) {
    assert.equal(Boolean(o['x-keygate']), keygateTags.has(o.tags[0]), `${m} ${p}: x-keygate as its tag ${o.tags[0]}`);
  }
  for (const name of ['ApiToken', 'AuditEntry', 'ClientId']) assert.equal(doc.components.schemas[name]['x-keygate'], true, name);
  for (const name of ['Role', 'RoleGrant', 'User', 'Privilege', 'GrantPrivilege', 'RevokePrivilege', 'Error']) {
    assert.equal(doc.components.schemas[name]['x-keygate'], undefined, name);
  }
});

test('the README\'s error examples are errors as the document writes them', () => {
  const md = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = md.slice(md.indexOf('**Errors** answer one envelope'));
  const lines = /```json\n([\s\S]*?)\n```/.exec(section)[1].split('\n');
  assert.equal(lines.length, 3);
  const schema = { 400: 'BadRequestError', 403: 'PermissionDeniedError', 404: 'NotFoundError' };
  const st = contract.load();
  for (const l of lines) {
    const o = JSON.parse(l);
    const v = st.ajv.getSchema(`kg#/$defs/${schema[o.code]}`);
    assert.ok(v(o), `${l}: ${JSON.stringify(v.errors)}`);
  }
});

/* The one detail of type `type` in an error body. */
function detail(res, type) {
  const found = (res.json.details || []).filter((d) => d['@type'] === T + type);
  assert.equal(found.length, 1, `one ${type} detail: ${res.text}`);
  return found[0];
}

test('400: a BadRequest detail names every bad field', async () => {
  const post = (body, opts = {}) => api(srv.base, 'POST', `${V1}/apiToken`, { token: boot.access, body, ...opts });
  let r = await post({ roleId: 'r-0000000002', colour: 'red', 'size\n': 1 });
  h.assertApiError(r, 400, 'INVALID_ARGUMENT');
  assert.deepEqual(detail(r, 'BadRequest').fieldViolations.map((v) => v.field).sort(), ['colour', 'size?']);
  assert.match(r.json.message, /^unknown field "(colour|size\?)" \(and 1 more: see details\)$/);

  r = await post({ roleId: 5 });
  h.assertApiError(r, 400, 'INVALID_ARGUMENT');
  assert.deepEqual(detail(r, 'BadRequest').fieldViolations, [{ field: 'roleId', description: 'roleId must be a string' }]);
  r = await post({ description: 'x' });
  assert.deepEqual(detail(r, 'BadRequest').fieldViolations, [{ field: 'roleId', description: 'roleId is required' }]);

  r = await post(undefined, { raw: 'not json', headers: { 'Content-Type': 'application/json' } });
  h.assertApiError(r, 400, 'INVALID_ARGUMENT');
  assert.deepEqual(detail(r, 'BadRequest').fieldViolations, [{ field: '', description: 'the body is not a JSON object' }]);

  r = await api(srv.base, 'GET', `${V1}/apiToken?pageSize=lots`, { token: boot.access });
  h.assertApiError(r, 400, 'INVALID_ARGUMENT');
  assert.equal(detail(r, 'BadRequest').fieldViolations[0].field, 'pageSize');
  r = await api(srv.base, 'GET', `${V1}/apiToken?pageToken=nope`, { token: boot.access });
  assert.equal(detail(r, 'BadRequest').fieldViolations[0].field, 'pageToken');
});

test('401 and 403: an ErrorInfo says why, and names a missing privilege', async () => {
  let r = await api(srv.base, 'GET', `${V1}/apiToken`);
  h.assertUnauthenticated(r);
  assert.deepEqual(detail(r, 'ErrorInfo'), { '@type': `${T}ErrorInfo`, reason: 'CREDENTIALS_MISSING', metadata: {} });
  r = await api(srv.base, 'GET', `${V1}/apiToken`, { token: 'eyJhbGciOiJub25lIn0.e30.' });
  h.assertUnauthenticated(r);
  assert.equal(detail(r, 'ErrorInfo').reason, 'ACCESS_TOKEN_INVALID');

  const made = h.cli(srv.db, ['role', 'create', 'bystander']);
  assert.equal(made.status, 0, made.stderr);
  const t = h.cliJson(srv.db, ['token', 'create', '--role', 'bystander', '--description', 'no privileges', '--json']);
  const ex = await h.exchangeCliToken(srv.base, t.clientId, t.clientSecret);
  assert.equal(ex.status, 200, ex.text);
  r = await api(srv.base, 'GET', `${V1}/auditLog`, { token: ex.json.access_token });
  h.assertApiError(r, 403, 'PERMISSION_DENIED');
  assert.deepEqual(detail(r, 'ErrorInfo'), { '@type': `${T}ErrorInfo`, reason: 'MISSING_PRIVILEGE', metadata: { privilege: 'ViewAuditLog' } });
});

test('404: a ResourceInfo names what was not found', async () => {
  const r = await api(srv.base, 'GET', `${V1}/apiToken/kgc_AAAAAAAAAAAAAAAA`, { token: boot.access });
  h.assertApiError(r, 404, 'NOT_FOUND');
  assert.deepEqual(detail(r, 'ResourceInfo'), {
    '@type': `${T}ResourceInfo`, resourceName: `${V1}/apiToken/kgc_AAAAAAAAAAAAAAAA`, description: r.json.message,
  });
  const none = await api(srv.base, 'GET', `${V1}/noSuchThing`, { token: boot.access });
  h.assertApiError(none, 404, 'NOT_FOUND');
  assert.equal(detail(none, 'ResourceInfo').resourceName, `${V1}/noSuchThing`);
});

test('429: a RetryInfo says when to try again; other statuses carry no detail', async () => {
  let r;
  for (let i = 0; i < 12; i++) {
    r = await api(srv.base, 'POST', '/login', { body: { email: 'nobody@example.com', password: 'wrong password' } });
    if (r.status === 429) break;
    h.assertApiError(r, 401, 'UNAUTHENTICATED');
  }
  h.assertApiError(r, 429, 'RESOURCE_EXHAUSTED');
  const wait = Number(r.headers.get('retry-after'));
  assert.ok(wait > 0, `Retry-After: ${wait}`);
  assert.deepEqual(detail(r, 'RetryInfo'), { '@type': `${T}RetryInfo`, retryDelay: `${wait}s` });

  const m = await api(srv.base, 'DELETE', `${V1}/apiToken`, { token: boot.access });
  h.assertApiError(m, 405, 'METHOD_NOT_ALLOWED');
  assert.deepEqual(m.json.details, []);
});

test('the OAuth endpoints keep RFC 6749\'s error form', async () => {
  const r = await h.tokenRequest(srv.base, 'grant_type=password');
  h.assertOAuthError(r, 400, 'unsupported_grant_type');
  assert.deepEqual(Object.keys(r.json).sort(), ['error', 'error_description']);
});

test('the contract check catches an answer that differs from the document', () => {
  const headers = new Headers({ 'content-type': 'application/json' });
  const ok = { status: 404, headers, text: '{}', json: { code: 404, message: 'no token has that clientId', status: 'NOT_FOUND', details: [{ '@type': `${T}ResourceInfo`, resourceName: 'x', description: 'y' }] } };
  ok.text = JSON.stringify(ok.json);
  assert.equal(contract.check('GET', `${V1}/apiToken/kgc_AAAAAAAAAAAAAAAA`, ok), null);
  const noDetail = { ...ok, json: { ...ok.json, details: [{ '@type': `${T}ErrorInfo`, reason: 'X', metadata: {} }] } };
  assert.match(contract.check('GET', `${V1}/apiToken/kgc_AAAAAAAAAAAAAAAA`, noDetail), /does not match/);
  assert.match(contract.check('GET', `${V1}/apiToken/kgc_AAAAAAAAAAAAAAAA`, { ...ok, status: 409 }), /not an answer the document lists/);
  const extra = { status: 200, headers, text: '{}', json: { nextPageToken: '', result: [], more: 1 } };
  assert.match(contract.check('GET', `${V1}/apiToken?pageSize=5`, extra), /does not match/);
});
