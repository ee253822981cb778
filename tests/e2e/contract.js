'use strict';
// The contract (issue 17): doc/openapi.json is what keygate answers.  helpers.js hands every
// answer a test receives (api, tokenRequest, rawRequest, socketRequest, postFrom) to check(),
// which finds the document's operation for the method and path and holds the answer to it:
// its status must be listed, its Content-Type must be one the document gives, and a JSON body
// must match the schema (ajv, JSON Schema 2020-12, OpenAPI 3.1's dialect).  A mismatch throws,
// so the test that made the call fails.
//
// - A method a path has no operation for must answer 405 in the path's error form (unless it
//   is not JSON: the pane's page at the path of an API route, GET /login).
// - A path the document does not have: a JSON answer must be an error (Error); anything else
//   (the pane's pages and files) is not the API and is let be.
// - The HTTP layer's own refusals (a framing 400, 431, 501, 505: answered before any route)
//   are an Error with empty details, or under /oauth/ an OAuthError, whatever the path.

const fs = require('node:fs');
const path = require('node:path');

const DOC_PATH = path.resolve(__dirname, '../../doc/openapi.json');
const REFUSALS = new Set([400, 431, 501, 505]);

let state = null;

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/* The document, its routes as regular expressions, and an ajv holding its schemas. */
function load() {
  if (state) return state;
  let Ajv2020;
  try {
    Ajv2020 = require('ajv/dist/2020');
  } catch (e) {
    throw new Error(`tests/e2e/contract.js needs the npm package ajv (scripts/setup.sh test): ${e.message}`);
  }
  const doc = JSON.parse(fs.readFileSync(DOC_PATH, 'utf8'));
  // Formats are annotations here (times carry a pattern); x-keygate marks, not constraints.
  const ajv = new Ajv2020({ allErrors: true, strictSchema: true, strictTypes: false, strictTuples: false, validateFormats: false });
  ajv.addVocabulary(['x-keygate']);
  // The schemas move to $defs of one schema "kg", and every $ref with them.
  const rewrite = (v) => JSON.parse(JSON.stringify(v).replaceAll('"#/components/schemas/', '"kg#/$defs/'));
  ajv.addSchema({ $id: 'kg', $defs: rewrite(doc.components.schemas) });
  const routes = Object.entries(doc.paths).map(([p, item]) => ({
    path: p,
    item,
    // a parameter is one segment without ':' (route.c's matcher: "{}:revoke" is a verb)
    re: new RegExp(`^${p.split(/(\{[^}]+\})/).map((part) => (part.startsWith('{') ? '[^/:]+' : escapeRe(part))).join('')}$`),
  }));
  state = { doc, ajv, routes, rewrite, compiled: new Map() };
  return state;
}

function validator(st, schema) {
  const key = JSON.stringify(schema);
  let v = st.compiled.get(key);
  if (!v) {
    v = st.ajv.compile(st.rewrite(schema));
    st.compiled.set(key, v);
  }
  return v;
}

function resolveResponse(st, r) {
  if (r && r.$ref) return st.doc.components.responses[r.$ref.replace('#/components/responses/', '')];
  return r;
}

function header(res, name) {
  if (!res.headers) return '';
  if (typeof res.headers.get === 'function') return res.headers.get(name) || '';
  return res.headers[name.toLowerCase()] || '';
}

/* The path the server routes: without query, percent-decoded as the HTTP layer decodes. */
function routedPath(p) {
  let q = String(p).split('?')[0].split('#')[0];
  try { q = decodeURIComponent(q); } catch { /* left as sent: it matches no route */ }
  return q;
}

function matches(st, schema, json, where) {
  const v = validator(st, schema);
  if (v(json)) return null;
  const errs = v.errors.slice(0, 6).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`);
  return `${where}: the answer does not match the document: ${errs.join('; ')}`;
}

/*
 * Checks one answer: method, the request's path (query included or not), res {status,
 * headers, text, json}.  Returns null when it agrees with the document, else what is wrong.
 */
function check(method, requestPath, res) {
  if (!res || res.error || !res.status) return null; /* no answer: nothing to hold */
  const st = load();
  const m = String(method).toUpperCase();
  const p = routedPath(requestPath);
  const ct = header(res, 'content-type');
  const media = ct.split(';')[0].trim().toLowerCase();
  const text = res.text === undefined ? '' : String(res.text);
  const where = `${m} ${p} → ${res.status} ${text.slice(0, 300)}`;
  const isJson = media === 'application/json';
  if (isJson && text && res.json === undefined) return `${where}: Content-Type is JSON but the body is not`;
  if (isJson && REFUSALS.has(res.status) && res.json) { /* the HTTP layer's refusal */
    if (Array.isArray(res.json.details) && res.json.details.length === 0) return matches(st, { $ref: '#/components/schemas/Error' }, res.json, where);
    if (p.startsWith('/oauth/') && 'error' in res.json) return matches(st, { $ref: '#/components/schemas/OAuthError' }, res.json, where);
  }
  const route = st.routes.find((r) => r.re.test(p));
  if (!route) {
    if (!isJson || !text) return null;
    if (res.status < 400) return `${where}: a JSON answer from a path the document does not have`;
    return matches(st, { $ref: '#/components/schemas/Error' }, res.json, where);
  }
  const op = route.item[m.toLowerCase()];
  if (!op) {
    if (m === 'HEAD' || !isJson) return null; /* the pane's page of a path (GET /login) */
    if (res.status !== 405) return `${where}: the document has no ${m} on ${route.path}, so 405 was expected`;
    const form = route.item['x-keygate-error-form'] === 'oauth' ? 'OAuthError' : 'MethodNotAllowedError';
    return matches(st, { $ref: `#/components/schemas/${form}` }, res.json, where);
  }
  const r = resolveResponse(st, op.responses[String(res.status)]);
  if (!r) return `${where}: ${res.status} is not an answer the document lists for ${m} ${route.path} (${Object.keys(op.responses).join(', ')})`;
  if (!r.content) {
    if (text !== '') return `${where}: the document says ${res.status} has no body`;
    return null;
  }
  if (m === 'HEAD') return null;
  if (!text) return `${where}: the document says ${res.status} has a body (${Object.keys(r.content).join(', ')}), and it is empty`;
  if (!r.content[media]) return `${where}: Content-Type ${ct} is not the document's (${Object.keys(r.content).join(', ')})`;
  if (!isJson) return null;
  return matches(st, r.content[media].schema, res.json, where);
}

/* check(), as an assertion. */
function assertAnswer(method, requestPath, res) {
  const wrong = check(method, requestPath, res);
  if (wrong) {
    const e = new Error(`contract (doc/openapi.json): ${wrong}`);
    e.code = 'ERR_CONTRACT';
    throw e;
  }
}

module.exports = { DOC_PATH, load, check, assertAnswer, routedPath };
