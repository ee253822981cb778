// Shared helpers for tests/standards/*.test.mjs (not a test file itself): the e2e helpers,
// role/token setup through the REST API, JWT tampering, /gate calls and bounded load loops.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const h = require('../e2e/helpers.js');
const { V1, api } = h;

/* Flips one bit in the middle of the signature part of a JWT (still valid base64url). */
export function flipSignature(jwt) {
  const [hd, pl, sig] = jwt.split('.');
  const bytes = Buffer.from(sig, 'base64url');
  bytes[bytes.length >> 1] ^= 0x01;
  return `${hd}.${pl}.${bytes.toString('base64url')}`;
}

/* Makes a role through the REST API, grants it the privileges (Allow); returns its roleId. */
export async function makeRole(base, admin, roleName, privileges = []) {
  const r = await api(base, 'POST', `${V1}/role`, {
    token: admin, body: { roleName, roleDescription: `standards test ${roleName}`, grantToCreatingRole: true },
  });
  assert.equal(r.status, 200, `POST /role ${roleName}: ${r.status} ${r.text}`);
  for (const privilege of privileges) await grant(base, admin, r.json.roleId, privilege);
  return r.json.roleId;
}

export async function grant(base, admin, roleId, privilege, grantKind = 'Allow') {
  const g = await api(base, 'POST', `${V1}/role/${roleId}/privilege:grant`, {
    token: admin, body: { grantKind, privilege },
  });
  assert.equal(g.status, 204, `grant ${grantKind} ${privilege} to ${roleId}: ${g.status} ${g.text}`);
}

export async function revokePrivilege(base, admin, roleId, privilege, grantKind = 'Allow') {
  const g = await api(base, 'POST', `${V1}/role/${roleId}/privilege:revoke`, {
    token: admin, body: { grantKind, privilege },
  });
  assert.equal(g.status, 204, `revoke ${grantKind} ${privilege} from ${roleId}: ${g.status} ${g.text}`);
}

/* Makes an API token holding roleId; returns {clientId, clientSecret}. */
export async function makeToken(base, admin, roleId, description) {
  const r = await api(base, 'POST', `${V1}/apiToken`, { token: admin, body: { description, roleId } });
  assert.equal(r.status, 201, `POST /apiToken: ${r.status} ${r.text}`);
  return { clientId: r.json.clientId, clientSecret: r.json.clientSecret };
}

/* Role + token + access token in one go: {roleId, roleName, clientId, clientSecret, access}. */
export async function principal(base, admin, roleName, privileges) {
  const roleId = await makeRole(base, admin, roleName, privileges);
  const t = await makeToken(base, admin, roleId, `${roleName} client`);
  const access = await h.accessToken(base, t.clientId, t.clientSecret);
  return { roleId, roleName, ...t, access };
}

/* POST /oauth/v2/revoke for the client's own access token (RFC 7009); returns the status. */
export async function revokeAccessToken(base, who, token) {
  const r = await fetch(`${base}/oauth/v2/revoke`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: h.basic(who.clientId, who.clientSecret) },
    body: new URLSearchParams({ token }).toString(),
    signal: AbortSignal.timeout(10000),
  });
  await r.text();
  return r.status;
}

/*
 * One /gate check.  opts: {method, uri} of the original request; token (Bearer) or
 * authorization (raw header); style 'nginx' (X-Original-*) or 'traefik' (X-Forwarded-*);
 * gateMethod (the method of the /gate call itself, default GET); headers (extra/override).
 * Returns {status, headers, text}.
 */
export async function gate(base, opts = {}) {
  const headers = {};
  const style = opts.style || 'nginx';
  if (opts.method !== undefined) headers[style === 'nginx' ? 'X-Original-Method' : 'X-Forwarded-Method'] = opts.method;
  if (opts.uri !== undefined) headers[style === 'nginx' ? 'X-Original-URI' : 'X-Forwarded-Uri'] = opts.uri;
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.authorization !== undefined) headers.Authorization = opts.authorization;
  Object.assign(headers, opts.headers || {});
  const r = await fetch(`${base}/gate`, {
    method: opts.gateMethod || 'GET', headers, signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text };
}

/* Asserts a gate 401 with WWW-Authenticate: Bearer realm=..., error="invalid_token". */
export function assertGate401(r, what) {
  const wa = r.headers.get('www-authenticate');
  assert.equal(r.status, 401, `${what}: expected 401, got ${r.status} ${r.text}`);
  assert.ok(wa && /^Bearer\b/i.test(wa), `${what}: WWW-Authenticate must be a Bearer challenge, got ${JSON.stringify(wa)}`);
  assert.match(wa, /\berror="invalid_token"/, `${what}: WWW-Authenticate needs error="invalid_token": ${wa}`);
  assert.match(wa, /\brealm="[^"]*"/, `${what}: WWW-Authenticate needs a realm: ${wa}`);
  assert.equal(r.headers.get('x-keygate-client-id'), null, `${what}: no client id on a 401`);
}

/* Asserts a gate 204 for the principal p. */
export function assertGateAllowed(r, p, what) {
  assert.equal(r.status, 204, `${what}: expected 204, got ${r.status} ${r.text}`);
  assert.equal(r.headers.get('x-keygate-client-id'), p.clientId, `${what}: X-Keygate-Client-Id`);
  assert.equal(r.headers.get('x-keygate-role'), p.roleName, `${what}: X-Keygate-Role`);
  assert.equal(r.text, '', `${what}: a 204 has no body`);
}

/*
 * Runs `workers` concurrent loops of fn() (async, returns a status or throws) until stop() is
 * called, maxRequests were sent, or maxMs passed — whichever first.  Statuses other than
 * `expect` and thrown errors are collected.  stop() resolves {sent, failures}.
 */
export function loadLoop(fns, { expect = 204, maxRequests = 5000, maxMs = 15000 } = {}) {
  let stopped = false;
  let sent = 0;
  const failures = [];
  const deadline = Date.now() + maxMs;
  const run = async (fn) => {
    while (!stopped && sent < maxRequests && Date.now() < deadline) {
      sent++;
      try {
        const s = await fn();
        if (s !== expect) failures.push(`status ${s}`);
      } catch (e) {
        failures.push(`error ${e && (e.cause ? `${e.message}: ${e.cause.code || e.cause.message}` : e.message)}`);
      }
    }
  };
  const all = Promise.all(fns.map(run));
  return {
    get sent() { return sent; },
    async stop() { stopped = true; await all; return { sent, failures }; },
  };
}
