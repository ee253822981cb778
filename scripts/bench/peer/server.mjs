// make bench's peer: node's oidc-provider as an authorization server for the client credentials
// grant only, issuing JWT access tokens (a resource indicator, by default, names a resource
// server whose tokens are JWTs) signed with the algorithm asked for, on 127.0.0.1.
//
// Usage: node server.mjs ALG PORT AUTH_OUT [CLIENTS]   (ALG: EdDSA, ES256 or RS256)
//   Makes a signing key of ALG and CLIENTS (default 200) confidential clients with random
//   secrets, writes one "Basic base64(client_id:secret)" line a client to AUTH_OUT, and serves
//   in node's cluster mode: one worker a core (os.availableParallelism(); env PEER_WORKERS
//   overrides), each a provider with the same key and clients (JWT access tokens keep no state
//   to share).  Quiet: nothing is logged; SIGTERM stops the primary and its workers.
import cluster from 'node:cluster';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

const [alg, port, authOut, clientCount = '200'] = process.argv.slice(2);
const keyType = { EdDSA: ['ed25519', {}], ES256: ['ec', { namedCurve: 'P-256' }], RS256: ['rsa', { modulusLength: 2048 }] };
const resource = 'urn:keygate-bench:api';

if (cluster.isPrimary) {
  if (!keyType[alg] || !/^\d+$/.test(port || '') || !authOut) {
    console.error('usage: node server.mjs EdDSA|ES256|RS256 PORT AUTH_OUT [CLIENTS]');
    process.exit(2);
  }
  const [type, opts] = keyType[alg];
  const { privateKey } = crypto.generateKeyPairSync(type, opts);
  const jwk = { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `bench-${alg}` };
  const clients = Array.from({ length: Number(clientCount) }, (_, i) => ({
    client_id: `bench-${i}`,
    client_secret: crypto.randomBytes(32).toString('base64url'),
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg, // never used (no ID tokens), but must be one it can sign
  }));
  fs.writeFileSync(authOut, clients.map((c) => `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}\n`).join(''), { mode: 0o600 });
  const workers = Number(process.env.PEER_WORKERS) || os.availableParallelism();
  const env = { PEER_CONFIG: JSON.stringify({ jwk, clients }) };
  let stopping = false;
  for (let i = 0; i < workers; i += 1) cluster.fork(env);
  cluster.on('exit', () => {
    if (!stopping) { console.error('peer: a worker died'); stop(1); }
  });
  const stop = (code) => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    setTimeout(() => process.exit(code), 200).unref();
    process.exitCode = code;
  };
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
} else {
  const { default: Provider } = await import('oidc-provider');
  const { jwk, clients } = JSON.parse(process.env.PEER_CONFIG);
  // JWT access tokens are never stored, and the client credentials grant makes nothing else:
  // an adapter that keeps nothing (the default in-memory one only warns that it is one)
  class NoStore {
    async upsert() {}
    async find() { return undefined; }
    async findByUid() { return undefined; }
    async findByUserCode() { return undefined; }
    async consume() {}
    async destroy() {}
    async revokeByGrantId() {}
  }
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    adapter: NoStore,
    clients,
    ttl: { ClientCredentials: 3600 },
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    responseTypes: ['none'], // no authorization code or implicit grants
    scopes: ['api'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api',
          audience: resource,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        }),
      },
    },
    enabledJWA: { idTokenSigningAlgValues: [alg] },
  });
  provider.on('server_error', (_ctx, err) => console.error('peer:', err.message));
  process.on('SIGTERM', () => process.exit(0));
  provider.listen(Number(port), '127.0.0.1');
}
