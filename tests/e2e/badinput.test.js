'use strict';
// Table-driven bad input against every route: bodies (size, type, syntax, nesting, UTF-8,
// lengths, types), ids (unknown, SQL-looking, traversal), the token endpoint's form and Basic
// header, and bearer tokens (garbage, tampered, alg "none", foreign key, bad claims).
// Each table collects every mismatch and reports them together.  Afterwards the server must be
// alive and the data unchanged.  Every error must be JSON of the documented shape.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers.js');

const { V1, api } = h;

let srv;
let boot;
const S = {};
const LIMIT = 64 * 1024;

/* Runs fn(); an AssertionError is recorded in `fails` instead of stopping the table. */
let tried = 0; // bad inputs sent through check(), for the summary line

async function check(fails, what, fn) {
  tried++;
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof assert.AssertionError)) throw e;
    fails.push(`${what}: ${e.message.split('\n')[0]}`);
  }
}

function reportFails(fails, table) {
  assert.equal(fails.length, 0, `${fails.length} case(s) of "${table}" failed:\n  - ${fails.join('\n  - ')}`);
}

/* Request with a raw body and explicit headers through node:http (see helpers.rawRequest). */
async function raw(method, p, { headers = {}, body, token = boot.access } = {}) {
  const hd = { ...headers };
  if (token) hd.Authorization = `Bearer ${token}`;
  if (body !== undefined && hd['Content-Length'] === undefined && hd['Transfer-Encoding'] === undefined) {
    hd['Content-Length'] = Buffer.byteLength(body);
  }
  // Big bodies go over a plain socket, so an early 413 is read even if the server stops reading.
  const big = body !== undefined && Buffer.byteLength(body) > LIMIT && hd['Transfer-Encoding'] === undefined;
  if (big) delete hd['Content-Length'];
  const r = big ? await h.socketRequest(srv.port, method, p, hd, body) : await h.rawRequest(srv.port, method, p, hd, body);
  if (r.error) assert.fail(`${method} ${p}: request failed (${r.error.code || r.error.message}); is the server alive?`);
  return { ...r, headers: { get: (k) => r.headers[k.toLowerCase()] } };
}

function assertJsonError(res, status, apiStatus, what) {
  h.assertApiError(res, status, apiStatus, what);
}

/* 413: JSON body with code 413 and some status string (the spec does not name it). */
function assert413(res, what, oauth = false) {
  const ctx = `${what}: got ${res.status} ${String(res.text).slice(0, 200)}`;
  assert.equal(res.status, 413, ctx);
  assert.ok(res.json && typeof res.json === 'object', `413 body must be JSON; ${ctx}`);
  if (oauth) {
    assert.equal(typeof res.json.error, 'string', `OAuth-form error; ${ctx}`);
  } else {
    assert.equal(res.json.code, 413, ctx);
    assert.equal(typeof res.json.message, 'string', ctx);
    assert.match(String(res.json.status), /^[A-Z_]+$/, `status string; ${ctx}`);
  }
}

async function counts() {
  const t = (await h.listAll(srv.base, boot.access, `${V1}/apiToken`, 100, 100)).flatMap((p) => p.result);
  const r = (await h.listAll(srv.base, boot.access, `${V1}/role`, 100, 100)).flatMap((p) => p.result);
  const u = (await h.listAll(srv.base, boot.access, `${V1}/user`, 100, 100)).flatMap((p) => p.result);
  const privs = {};
  for (const role of r) {
    const p = await api(srv.base, 'GET', `${V1}/role/${role.roleId}/privilege?pageSize=100`, { token: boot.access });
    privs[role.roleName] = p.json.result.map((x) => `${x.grantKind} ${x.privilege}`).sort();
  }
  return {
    tokens: t.map((x) => `${x.clientId} ${x.status} ${x.roleId} ${x.description}`),
    roles: r.map((x) => `${x.roleId} ${x.roleName} ${x.roleDescription} ${JSON.stringify(x.directlyGrantedRoles)}`),
    users: u.map((x) => `${x.userId} ${x.email} ${JSON.stringify(x.directlyGrantedRoles)}`),
    privs,
  };
}

before(async () => {
  srv = await h.startServer();
  boot = await h.bootstrap(srv);
  const role = await api(srv.base, 'POST', `${V1}/role`, { token: boot.access, body: { grantToCreatingRole: true, roleName: 'scratch', roleDescription: 'scratch' } });
  assert.equal(role.status, 200, role.text);
  S.role = role.json;
  const user = await api(srv.base, 'POST', `${V1}/user`, { token: boot.access, body: { email: 'scratch@example.com', password: 'scratch-password' } });
  assert.equal(user.status, 201, user.text);
  S.user = user.json;
  const pub = await api(srv.base, 'GET', `${V1}/role/name=public`, { token: boot.access });
  S.pub = pub.json;
  S.baseline = await counts();
});

after(async () => {
  if (srv) await srv.stop();
});

/* The JSON-body routes, each with a body that would be valid, to be spoiled by the table. */
function bodyRoutes() {
  return [
    { m: 'POST', p: `${V1}/apiToken`, valid: { description: 'd', roleId: S.pub.roleId }, str: 'description' },
    { m: 'PATCH', p: `${V1}/apiToken/${boot.clientId}`, valid: { description: 'boot' }, str: 'allowedCidrs' },
    { m: 'POST', p: `${V1}/role`, valid: { grantToCreatingRole: true, roleName: 'never_made', roleDescription: 'd' }, str: 'roleName' },
    { m: 'PATCH', p: `${V1}/role/${S.role.roleId}`, valid: { roleDescription: 'd' }, str: 'roleName' },
    { m: 'POST', p: `${V1}/role/${S.role.roleId}/privilege:grant`, valid: { grantKind: 'Allow', privilege: 'x' }, str: 'privilege' },
    { m: 'POST', p: `${V1}/role/${S.role.roleId}/privilege:revoke`, valid: { grantKind: 'Allow', privilege: 'x' }, str: 'privilege' },
    { m: 'POST', p: `${V1}/user`, valid: { email: 'never@example.com' }, str: 'email' },
    { m: 'PATCH', p: `${V1}/user/${S.user.userId}`, valid: { email: 'never@example.com' }, str: 'email' },
  ];
}

test('every JSON-body route: bad bodies → 400 INVALID_ARGUMENT (413 when over 64 KiB), never a crash', async () => {
  const fails = [];
  const JSON_CT = { 'Content-Type': 'application/json' };
  const deepArr = `{"x":${'['.repeat(10000)}${']'.repeat(10000)}}`;
  const deepObj = `${'{"a":'.repeat(10000)}1${'}'.repeat(10000)}`;
  for (const r of bodyRoutes()) {
    const v = JSON.stringify(r.valid);
    const withStr = (s) => JSON.stringify({ ...r.valid, [r.str]: s });
    const cases = [
      // content type
      ['no Content-Type', {}, v, 400],
      ['text/plain', { 'Content-Type': 'text/plain' }, v, 400],
      ['form content type', { 'Content-Type': 'application/x-www-form-urlencoded' }, v, 400],
      ['application/jsonx', { 'Content-Type': 'application/jsonx' }, v, 400],
      // syntax and shape
      ['empty body', JSON_CT, '', 400],
      ['truncated JSON', JSON_CT, v.slice(0, -1), 400],
      ['malformed JSON', JSON_CT, '{"a":}', 400],
      ['trailing garbage', JSON_CT, `${v} x`, 400],
      ['single quotes', JSON_CT, v.replace(/"/g, "'"), 400],
      ['null', JSON_CT, 'null', 400],
      ['JSON array', JSON_CT, `[${v}]`, 400],
      ['JSON string', JSON_CT, '"x"', 400],
      ['JSON number', JSON_CT, '1', 400],
      ['10000-deep arrays', JSON_CT, deepArr, 400],
      ['10000-deep objects', JSON_CT, deepObj, 400],
      ['duplicate key', JSON_CT, `${v.slice(0, -1)},${JSON.stringify(r.str)}:"y",${JSON.stringify(r.str)}:"z"}`, 400],
      ['unknown field', JSON_CT, JSON.stringify({ ...r.valid, zzz: 1 }), 400],
      // strings
      ['invalid UTF-8 bytes', JSON_CT, Buffer.concat([Buffer.from(`{"${r.str}":"a`), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from('"}')]), 400],
      ['overlong UTF-8 "/"', JSON_CT, Buffer.concat([Buffer.from(`{"${r.str}":"`), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), 400],
      ['lone surrogate escape', JSON_CT, `{"${r.str}":"\\ud800"}`, 400],
      ['NUL escape', JSON_CT, `{"${r.str}":"a\\u0000b"}`, 400],
      ['60000-char string', JSON_CT, withStr('a'.repeat(60000)), 400],
      ['SQL-looking string', JSON_CT, withStr("x' OR 1=1 --"), r.str === 'description' ? 201 : 400],
      // types
      ['number instead of string', JSON_CT, withStr(5), 400],
      ['null instead of string', JSON_CT, withStr(null), 400],
      ['object instead of string', JSON_CT, withStr({ a: 1 }), 400],
      ['array instead of string', JSON_CT, withStr(['a']), 400],
      ['bool instead of string', JSON_CT, withStr(true), 400],
      // size
      ['body of 64 KiB + 1', JSON_CT, `{"${r.str}":"${'a'.repeat(LIMIT + 1 - 6 - r.str.length)}"}`, 413],
      ['body of 1 MiB', JSON_CT, `{"${r.str}":"${'a'.repeat(1 << 20)}"}`, 413],
    ];
    for (const [what, headers, body, want] of cases) {
      const label = `${r.m} ${r.p.replace(V1, '')} ${what}`;
      await check(fails, label, async () => {
        const res = await raw(r.m, r.p, { headers, body });
        if (want === 201) {
          // A SQL-looking description is just text: stored verbatim; undo it below.
          assert.equal(res.status, 201, `${label}: ${res.status} ${res.text}`);
          assert.equal(res.json.description, "x' OR 1=1 --");
          const rv = await api(srv.base, 'POST', `${V1}/apiToken/${res.json.clientId}:revoke`, { token: boot.access });
          assert.equal(rv.status, 200);
          S.sqlToken = res.json.clientId;
        } else if (want === 413) {
          assert413(res, label);
        } else {
          assertJsonError(res, want, 'INVALID_ARGUMENT', label);
        }
      });
    }
  }
  reportFails(fails, 'JSON bodies');
});

test('a body of exactly 64 KiB is accepted; 64 KiB + 1 is 413, also when sent chunked', async () => {
  const p = `${V1}/role/${S.role.roleId}/privilege:grant`;
  const core = JSON.stringify({ grantKind: 'Allow', privilege: 'padded' });
  const exact = core.slice(0, -1) + ' '.repeat(LIMIT - core.length) + '}';
  assert.equal(Buffer.byteLength(exact), LIMIT);
  const ok = await raw('POST', p, { headers: { 'Content-Type': 'application/json' }, body: exact });
  assert.equal(ok.status, 204, `64 KiB body: ${ok.status} ${ok.text}`);
  const over = core.slice(0, -1) + ' '.repeat(LIMIT + 1 - core.length) + '}';
  assert413(await raw('POST', p, { headers: { 'Content-Type': 'application/json' }, body: over }), '64 KiB + 1');
  const chunked = await raw('POST', p, {
    headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
    body: core.slice(0, -1) + ' '.repeat(200 * 1024) + '}',
  });
  assert413(chunked, 'chunked 200 KiB body (no Content-Length)');
  const rv = await api(srv.base, 'POST', `${V1}/role/${S.role.roleId}/privilege:revoke`, {
    token: boot.access, body: { grantKind: 'Allow', privilege: 'padded' },
  });
  assert.equal(rv.status, 204, rv.text);
});

test('ids: unknown, malformed, SQL-looking and traversal ids → 404 on every id route', async () => {
  const fails = [];
  const ids = {
    apiToken: ['kgc_0000000000000000', 'kgc_', 'x', "x' OR 1=1 --", "kgc_0000000000000000' OR '1'='1", '%00', '..', 'a'.repeat(5000)],
    role: ['r-0000000000', 'r-', 'r-00000000001', "x' OR 1=1 --", "r-0000000001' OR 1=1 --", "name=x' OR 1=1 --",
      "name=accountadmin' --", 'name=', 'name=ACCOUNTADMIN', '..', 'a'.repeat(5000)],
    user: ['u-0000000000', 'u-', "x' OR 1=1 --", "email=x' OR '1'='1", "email=admin@localhost' --", 'email=', '..', 'a'.repeat(5000)],
  };
  const body = { 'Content-Type': 'application/json' };
  for (const id of ids.apiToken) {
    const e = encodeURIComponent(id);
    await check(fails, `GET /apiToken/${id.slice(0, 30)}`, async () => assertJsonError(await raw('GET', `${V1}/apiToken/${e}`), 404, 'NOT_FOUND', id));
    await check(fails, `revoke /apiToken/${id.slice(0, 30)}`, async () => assertJsonError(await raw('POST', `${V1}/apiToken/${e}:revoke`), 404, 'NOT_FOUND', id));
  }
  for (const id of ids.role) {
    const e = encodeURIComponent(id).replace('name%3D', 'name=');
    for (const [m, suffix, b] of [['GET', ''], ['PATCH', '', '{"roleDescription":"hacked"}'], ['DELETE', ''], ['GET', '/privilege'],
      ['POST', '/privilege:grant', '{"grantKind":"Allow","privilege":"ManageSecurity"}'],
      ['POST', '/privilege:revoke', '{"grantKind":"Allow","privilege":"ManageSecurity"}']]) {
      await check(fails, `${m} /role/${id.slice(0, 30)}${suffix}`, async () =>
        assertJsonError(await raw(m, `${V1}/role/${e}${suffix}`, { headers: b ? body : {}, body: b }), 404, 'NOT_FOUND', id));
    }
  }
  for (const id of ids.user) {
    const e = encodeURIComponent(id).replace('email%3D', 'email=');
    for (const [m, b] of [['GET'], ['PATCH', '{"email":"hacked@example.com"}'], ['DELETE']]) {
      await check(fails, `${m} /user/${id.slice(0, 30)}`, async () =>
        assertJsonError(await raw(m, `${V1}/user/${e}`, { headers: b ? body : {}, body: b }), 404, 'NOT_FOUND', id));
    }
  }
  // A NUL byte (%00) must not cut an id short and so name a real resource.
  for (const p of [`/apiToken/${boot.clientId}%00junk`, `/role/${S.pub.roleId}%00x`, '/role/name=public%00x',
    `/role/${S.pub.roleId}%00x/privilege`, `/user/${S.user.userId}%00x`, '/user/email=scratch@example.com%00x']) {
    await check(fails, `GET ${p}`, async () => assertJsonError(await raw('GET', `${V1}${p}`), 404, 'NOT_FOUND', `GET ${p}`));
  }
  reportFails(fails, 'ids');
});

test('paths: traversal, unknown paths → 404; known path, wrong method → 405; all JSON', async () => {
  const fails = [];
  const notFound = [
    `${V1}/apiToken/../role`, `${V1}/apiToken/%2e%2e/role`, `${V1}/apiToken/..%2frole`, `${V1}/role/../apiToken/x`,
    `${V1}/role/${S.role.roleId}/../../user`, `/public/api/v1/../v1/apiToken`, `//public/api/v1/apiToken`,
    `${V1}/apiToken/`, `${V1}/apiTokens`, `${V1}/APITOKEN`, `${V1}`, '/public/api/v2/apiToken', '/healthz/',
    '/oauth/v2/token/../../healthz', '/etc/passwd', `/${'a'.repeat(4000)}`, `${V1}/role/${S.role.roleId}/privilege/x`,
    `${V1}/apiToken/kgc_0000000000000000:frobnicate`, `${V1}/role/${S.role.roleId}/privilege:delete`,
    `${V1}/apiToken%00/x`, `${V1}/role%00`, `${V1}/user%00.json`, '/healthz%00x',
  ];
  for (const p of notFound) {
    await check(fails, `GET ${p.slice(0, 60)}`, async () => assertJsonError(await raw('GET', p), 404, 'NOT_FOUND', p.slice(0, 60)));
  }
  const wrongMethod = [
    ['PUT', `${V1}/apiToken`], ['DELETE', `${V1}/apiToken`], ['PATCH', `${V1}/apiToken`],
    ['DELETE', `${V1}/apiToken/${boot.clientId}`], ['PUT', `${V1}/apiToken/${boot.clientId}`],
    ['GET', `${V1}/apiToken/${boot.clientId}:revoke`], ['PUT', `${V1}/role`], ['DELETE', `${V1}/role`],
    ['PUT', `${V1}/role/${S.role.roleId}`], ['POST', `${V1}/role/${S.role.roleId}`], ['POST', `${V1}/role/${S.role.roleId}/privilege`],
    ['GET', `${V1}/role/${S.role.roleId}/privilege:grant`], ['DELETE', `${V1}/user`], ['POST', `${V1}/user/${S.user.userId}`],
    ['POST', '/healthz'], ['DELETE', '/healthz'],
  ];
  for (const [m, p] of wrongMethod) {
    await check(fails, `${m} ${p}`, async () => assertJsonError(await raw(m, p), 405, 'METHOD_NOT_ALLOWED', `${m} ${p}`));
  }
  for (const m of ['GET', 'PUT', 'DELETE']) {
    await check(fails, `${m} /oauth/v2/token`, async () => {
      const res = await raw(m, '/oauth/v2/token', { token: null });
      assert.equal(res.status, 405, `${m} /oauth/v2/token: ${res.status} ${res.text}`);
      assert.ok(res.json && typeof res.json.error === 'string',
        `errors on /oauth/* use the OAuth form {"error":…}; got ${res.text}`);
    });
  }
  reportFails(fails, 'paths');
  // The traversal did not reach /role: the 404 is not a role list.
  const t = await raw('GET', `${V1}/apiToken/../role`);
  assert.equal(t.json && t.json.result, undefined, 'no role list behind ../');
});

test('query strings: a repeated parameter or too many → 400 on every route, never one value picked', async () => {
  const fails = [];
  const lists = [`${V1}/apiToken`, `${V1}/role`, `${V1}/user`, `${V1}/auditLog`, `${V1}/role/${S.role.roleId}/privilege`];
  const many = Array.from({ length: 40 }, (_, i) => `p${i}=1`).join('&');
  for (const p of lists) {
    for (const q of ['pageSize=1&pageSize=1000', 'pageToken=&pageToken=x', 'pageSize=5&x=1&pageSize=5', many]) {
      await check(fails, `GET ${p}?${q.slice(0, 30)}`, async () =>
        assertJsonError(await raw('GET', `${p}?${q}`), 400, 'INVALID_ARGUMENT', `${p}?${q.slice(0, 30)}`));
    }
  }
  for (const [m, p] of [['GET', `${V1}/apiToken/${boot.clientId}`], ['POST', `${V1}/apiToken/${boot.clientId}:revoke`], ['GET', '/healthz']]) {
    await check(fails, `${m} ${p}?a=1&a=2`, async () => assertJsonError(await raw(m, `${p}?a=1&a=2`), 400, 'INVALID_ARGUMENT', `${m} ${p}`));
  }
  await check(fails, 'POST /oauth/v2/token?grant_type=a&grant_type=b', async () => {
    const res = await raw('POST', '/oauth/v2/token?grant_type=a&grant_type=b', {
      token: null, headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: h.basic(boot.clientId, boot.clientSecret) },
      body: 'grant_type=client_credentials',
    });
    h.assertOAuthError(res, 400, 'invalid_request', 'repeated query parameter at the token endpoint');
  });
  // One of each is fine.
  await check(fails, 'distinct parameters', async () => {
    const res = await raw('GET', `${V1}/apiToken?pageSize=2&pageToken=`);
    assert.equal(res.status, 200, res.text);
  });
  reportFails(fails, 'query strings');
});

test('token endpoint: bad forms and Basic headers → OAuth errors (400 invalid_request / 401 invalid_client)', async () => {
  const fails = [];
  const id = boot.clientId;
  const sec = boot.clientSecret;
  const B = h.basic(id, sec);
  const FORM = 'application/x-www-form-urlencoded';
  const cases = [
    // [what, headers, body, status, error]
    ['duplicate grant_type', { Authorization: B }, 'grant_type=client_credentials&grant_type=client_credentials', 400, 'invalid_request'],
    ['duplicate grant_type (different values)', { Authorization: B }, 'grant_type=client_credentials&grant_type=password', 400, 'invalid_request'],
    ['duplicate client_id', {}, `grant_type=client_credentials&client_id=${id}&client_id=${id}&client_secret=${sec}`, 400, 'invalid_request'],
    ['duplicate client_secret', {}, `grant_type=client_credentials&client_id=${id}&client_secret=${sec}&client_secret=${sec}`, 400, 'invalid_request'],
    ['Basic and body credentials', { Authorization: B }, `grant_type=client_credentials&client_id=${id}&client_secret=${sec}`, 400, 'invalid_request'],
    ['Basic and body client_id only', { Authorization: B }, `grant_type=client_credentials&client_id=${id}`, 400, 'invalid_request'],
    ['missing grant_type', { Authorization: B }, `client_id=${id}`, 400, 'invalid_request'],
    ['empty body', { Authorization: B }, '', 400, 'invalid_request'],
    ['bad percent-encoding', { Authorization: B }, 'grant_type=client%zzcredentials', 400, 'invalid_request'],
    ['truncated percent-encoding', { Authorization: B }, 'grant_type=client_credentials%2', 400, 'invalid_request'],
    ['NUL in the form', { Authorization: B }, 'grant_type=client_credentials%00', 400, 'invalid_request'],
    ['JSON body', { Authorization: B, 'Content-Type': 'application/json' }, '{"grant_type":"client_credentials"}', 400, 'invalid_request'],
    ['no Content-Type', { Authorization: B, 'Content-Type': null }, 'grant_type=client_credentials', 400, 'invalid_request'],
    ['multipart Content-Type', { Authorization: B, 'Content-Type': 'multipart/form-data; boundary=x' }, 'grant_type=client_credentials', 400, 'invalid_request'],
    ['grant_type=password', { Authorization: B }, 'grant_type=password&username=a&password=b', 400, 'unsupported_grant_type'],
    ['grant_type=authorization_code', { Authorization: B }, 'grant_type=authorization_code&code=x', 400, 'unsupported_grant_type'],
    ['grant_type with different case', { Authorization: B }, 'grant_type=Client_Credentials', 400, 'unsupported_grant_type'],
    ['no credentials', {}, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['client_id without secret', {}, `grant_type=client_credentials&client_id=${id}`, 401, 'invalid_client'],
    ['client_secret without id', {}, `grant_type=client_credentials&client_secret=${sec}`, 401, 'invalid_client'],
    ['empty client_secret', {}, `grant_type=client_credentials&client_id=${id}&client_secret=`, 401, 'invalid_client'],
    ['secret of another shape', {}, `grant_type=client_credentials&client_id=${id}&client_secret=${'a'.repeat(5000)}`, 401, 'invalid_client'],
    ['SQL-looking client_id', {}, `grant_type=client_credentials&client_id=${encodeURIComponent("x' OR 1=1 --")}&client_secret=${sec}`, 401, 'invalid_client'],
    ['Basic: not base64', { Authorization: 'Basic !!!not-base64!!!' }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Basic: no colon', { Authorization: `Basic ${Buffer.from(id + sec).toString('base64')}` }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Basic: empty', { Authorization: 'Basic ' }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Basic: only a colon', { Authorization: `Basic ${Buffer.from(':').toString('base64')}` }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Basic: NUL in the secret', { Authorization: `Basic ${Buffer.from(`${id}:${sec}\0x`).toString('base64')}` }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Basic: secret with a trailing byte', { Authorization: h.basic(id, `${sec}x`) }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Basic: secret prefix', { Authorization: h.basic(id, sec.slice(0, 20)) }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Basic: 8 KiB', { Authorization: `Basic ${'QUFB'.repeat(2048)}` }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Bearer instead of Basic', { Authorization: `Bearer ${boot.access}` }, 'grant_type=client_credentials', 401, 'invalid_client'],
    ['Digest scheme', { Authorization: 'Digest username="x"' }, 'grant_type=client_credentials', 401, 'invalid_client'],
  ];
  for (const [what, hdrs, body, status, error] of cases) {
    await check(fails, what, async () => {
      const headers = { 'Content-Type': FORM, ...hdrs };
      for (const k of Object.keys(headers)) if (headers[k] === null) delete headers[k];
      const res = await raw('POST', '/oauth/v2/token', { headers, body, token: null });
      h.assertOAuthError(res, status, error, what);
    });
  }
  await check(fails, 'oversized form (64 KiB + 1)', async () => {
    const res = await raw('POST', '/oauth/v2/token', {
      headers: { 'Content-Type': FORM, Authorization: B }, body: `grant_type=client_credentials&x=${'a'.repeat(LIMIT)}`, token: null,
    });
    assert413(res, 'oversized form', true);
  });
  await check(fails, 'Content-Type with charset is fine', async () => {
    const res = await raw('POST', '/oauth/v2/token', {
      headers: { 'Content-Type': `${FORM}; charset=UTF-8`, Authorization: B }, body: 'grant_type=client_credentials', token: null,
    });
    assert.equal(res.status, 200, `form with charset: ${res.status} ${res.text}`);
  });
  await check(fails, 'percent-encoded Basic credentials (RFC 6749 §2.3.1) are fine', async () => {
    const res = await raw('POST', '/oauth/v2/token', {
      headers: { 'Content-Type': FORM, Authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(sec)}`).toString('base64')}` },
      body: 'grant_type=client_credentials', token: null,
    });
    assert.equal(res.status, 200, `${res.status} ${res.text}`);
  });
  reportFails(fails, 'token endpoint');
});

test('a header beyond the server\'s header limit (100 KiB Authorization) gets a JSON 4xx, and the server lives', async () => {
  const res = await h.socketRequest(srv.port, 'POST', '/oauth/v2/token', {
    'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${'A'.repeat(100 * 1024)}`,
  }, 'grant_type=client_credentials');
  const ok = await api(srv.base, 'GET', '/healthz');
  assert.equal(ok.status, 200, 'server alive after a 100 KiB header');
  assert.ok(!res.error, `request failed: ${res.error && res.error.message}`);
  assert.ok(res.status >= 400 && res.status < 500, `4xx for a 100 KiB header, got ${res.status}`);
  assert.ok(res.json && typeof res.json === 'object',
    `issue 2: "bad input gets a JSON 4xx" — got ${res.status} ${res.headers['content-type']} ${res.text.slice(0, 120)}`);
});

/* ---- bearer tokens ------------------------------------------------------------------- */

function signWith(privateKey, header, payload) {
  const hp = `${h.encodeJwtPart(header)}.${h.encodeJwtPart(payload)}`;
  return `${hp}.${crypto.sign(null, Buffer.from(hp), privateKey).toString('base64url')}`;
}

function serverKey() {
  const f = path.join(srv.dir, 'signing.key');
  if (!fs.existsSync(f) || fs.statSync(f).size !== 32) return null;
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), fs.readFileSync(f)]);
  return crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

test('bearer: garbage, tampered, alg "none", foreign keys and bad claims → 401 on every protected route', async () => {
  const { header, payload, parts } = h.decodeJwt(boot.access);
  const now = Math.floor(Date.now() / 1000);
  const foreign = crypto.generateKeyPairSync('ed25519').privateKey;
  const bad = [
    ['no Authorization', null],
    ['empty Bearer', 'Bearer '],
    ['Bearer garbage', 'Bearer garbage'],
    ['Bearer a.b.c', 'Bearer a.b.c'],
    ['Bearer with 4 parts', `Bearer ${boot.access}.x`],
    ['Bearer 10 KiB', `Bearer ${'a'.repeat(10240)}`],
    ['Basic on the API', h.basic(boot.clientId, boot.clientSecret)],
    ['the client secret as a bearer', `Bearer ${boot.clientSecret}`],
    ['signature removed', `Bearer ${parts[0]}.${parts[1]}.`],
    ['signature truncated', `Bearer ${parts[0]}.${parts[1]}.${parts[2].slice(0, -4)}`],
    ['signature bit-flipped', `Bearer ${parts[0]}.${parts[1]}.${parts[2][0] === 'A' ? 'B' : 'A'}${parts[2].slice(1)}`],
    ['payload tampered (role)', `Bearer ${parts[0]}.${h.encodeJwtPart({ ...payload, role: 'public' })}.${parts[2]}`],
    ['payload tampered (exp)', `Bearer ${parts[0]}.${h.encodeJwtPart({ ...payload, exp: payload.exp + 3600 })}.${parts[2]}`],
    ['payload tampered (sub)', `Bearer ${parts[0]}.${h.encodeJwtPart({ ...payload, sub: 'kgc_0000000000000000', client_id: 'kgc_0000000000000000' })}.${parts[2]}`],
    ['alg none, no signature', `Bearer ${h.encodeJwtPart({ alg: 'none', typ: 'at+jwt' })}.${parts[1]}.`],
    ['alg none, kept kid and signature', `Bearer ${h.encodeJwtPart({ ...header, alg: 'none' })}.${parts[1]}.${parts[2]}`],
    ['alg HS256 header', `Bearer ${h.encodeJwtPart({ ...header, alg: 'HS256' })}.${parts[1]}.${parts[2]}`],
    ['signed by a foreign key, same kid', `Bearer ${signWith(foreign, header, payload)}`],
    ['signed by a foreign key, other kid', `Bearer ${signWith(foreign, { ...header, kid: 'other' }, payload)}`],
  ];
  const key = serverKey();
  if (key) {
    // Well-signed with the server's own key (read from beside the database), but with bad claims.
    const good = { ...payload, iat: now, exp: now + 600 };
    bad.push(
      ['control: well-signed, good claims', `Bearer ${signWith(key, header, good)}`, 200],
      ['expired (exp in the past)', `Bearer ${signWith(key, header, { ...good, iat: now - 700, exp: now - 100 })}`],
      ['wrong iss', `Bearer ${signWith(key, header, { ...good, iss: 'http://evil.example' })}`],
      ['wrong aud', `Bearer ${signWith(key, header, { ...good, aud: 'http://evil.example' })}`],
      ['no exp', `Bearer ${signWith(key, header, (({ exp, ...x }) => x)(good))}`],
      ['typ JWT instead of at+jwt', `Bearer ${signWith(key, { ...header, typ: 'JWT' }, good)}`],
      ['unknown sub', `Bearer ${signWith(key, header, { ...good, sub: 'kgc_0000000000000000', client_id: 'kgc_0000000000000000' })}`],
      ['kid missing', `Bearer ${signWith(key, { alg: 'EdDSA', typ: 'at+jwt' }, good)}`],
    );
  }
  const routes = [
    ['GET', '/apiToken'], ['POST', '/apiToken', { description: 'x', roleId: S.pub.roleId }], ['GET', `/apiToken/${boot.clientId}`],
    ['POST', `/apiToken/${boot.clientId}:revoke`], ['GET', '/role'], ['POST', '/role', { grantToCreatingRole: true, roleName: 'bearer_made' }],
    ['GET', `/role/${S.role.roleId}`], ['PATCH', `/role/${S.role.roleId}`, { roleDescription: 'hacked' }], ['DELETE', `/role/${S.role.roleId}`],
    ['GET', `/role/${S.role.roleId}/privilege`], ['POST', `/role/${S.role.roleId}/privilege:grant`, { grantKind: 'Allow', privilege: 'ManageSecurity' }],
    ['POST', `/role/${S.role.roleId}/privilege:revoke`, { grantKind: 'Allow', privilege: 'x' }], ['GET', '/user'],
    ['POST', '/user', { email: 'bearer@example.com' }], ['GET', `/user/${S.user.userId}`],
    ['PATCH', `/user/${S.user.userId}`, { email: 'hacked@example.com' }], ['DELETE', `/user/${S.user.userId}`],
  ];
  const fails = [];
  for (const [what, auth, want] of bad) {
    for (const [m, p, body] of routes) {
      if (want === 200 && (m !== 'GET')) continue; // the control only reads
      await check(fails, `${what} → ${m} ${p}`, async () => {
        const headers = {};
        if (auth) headers.Authorization = auth;
        const res = await api(srv.base, m, `${V1}${p}`, { headers, body });
        if (want === 200) assert.equal(res.status, 200, `${res.status} ${res.text}`);
        else h.assertUnauthenticated(res, `${what} → ${m} ${p}`);
      });
    }
  }
  reportFails(fails, 'bearer');
});

test('after the tables: the server is alive and tokens, roles, privileges and users are unchanged', async () => {
  assert.ok(srv.alive(), `the server exited: ${JSON.stringify(srv.exited)}\n${srv.stderr.slice(-2000)}`);
  const r = await api(srv.base, 'GET', '/healthz');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'ok' });
  const now = await counts();
  // The SQL-looking description created (and revoked) exactly one token on purpose.
  const tokens = now.tokens.filter((t) => !S.sqlToken || !t.startsWith(S.sqlToken));
  assert.deepEqual(tokens, S.baseline.tokens, 'tokens unchanged');
  assert.equal(now.tokens.length, S.baseline.tokens.length + (S.sqlToken ? 1 : 0), 'token count');
  assert.deepEqual(now.roles, S.baseline.roles, 'roles unchanged');
  assert.deepEqual(now.privs, S.baseline.privs, 'privileges unchanged');
  assert.deepEqual(now.users, S.baseline.users, 'users unchanged');
  const ok = await h.exchange(srv.base, boot.clientId, boot.clientSecret);
  assert.equal(ok.status, 200, 'the bootstrap token still exchanges');
  assert.ok(!/AddressSanitizer|runtime error|Segmentation|Assertion/.test(srv.stderr), `sanitizer/crash output in the log:\n${srv.stderr.slice(-2000)}`);
  console.log(`# bad input: ${tried} cases, every answer a JSON 4xx of the documented shape; data unchanged; server alive`);
});
