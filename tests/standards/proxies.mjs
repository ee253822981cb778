// Proxies for the standards tests: Debian's nginx and Caddy started on a free loopback port
// with their own config and paths in a temp directory, a recording upstream, and curl.
// Every process started here is stopped on exit, even when a hook blew up.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { h } from './lib.mjs';

const { sleep, unrefSleep } = h;

const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
const CADDY = process.env.CADDY_BIN || '/usr/bin/caddy';
const CURL = '/usr/bin/curl';

/* Every proxy this process started: stopped on exit even when a hook blew up. */
const liveProxies = new Set();
process.on('exit', () => {
  for (const p of liveProxies) {
    try { p.kill('SIGTERM'); } catch { /* gone */ }
  }
});

/*
 * Starts `bin args` (env added) and waits (≤ 10 s) until GET http://127.0.0.1:PORT/_ready
 * answers 204 through it.  Returns {port, dir, proc, stop(), errorLog()}; errorLog reads
 * logFile, or what the process printed.
 */
async function startProxy(name, bin, args, { port, dir, env = {}, logFile } = {}) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  liveProxies.add(proc);
  let out = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  let exited = null;
  const exitP = new Promise((r) => proc.on('exit', (code, signal) => { exited = { code, signal }; liveProxies.delete(proc); r(); }));
  const readLog = () => { if (!logFile) return out; try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  const handle = {
    port, dir, proc,
    errorLog: readLog,
    async stop() {
      if (exited) return;
      proc.kill('SIGTERM');
      await Promise.race([exitP, unrefSleep(5000)]);
      if (!exited) { proc.kill('SIGKILL'); await Promise.race([exitP, unrefSleep(2000)]); }
    },
  };
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline && !exited) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/_ready`, { signal: AbortSignal.timeout(1000) });
      await r.text();
      if (r.status === 204) return handle;
    } catch { /* not yet */ }
    await sleep(50);
  }
  await handle.stop();
  throw new Error(`${name} did not start (exit ${JSON.stringify(exited)}):\n${out}\n${readLog()}`);
}

/*
 * Starts `nginx -p DIR/ -c DIR/nginx.conf -e DIR/error.log -g 'daemon off; pid …;'`; conf must
 * answer GET /_ready with 204.  opts.pid false: conf names its own pid file (under DIR).
 */
export async function startNginx(dir, port, conf, { pid = true } = {}) {
  assert.ok(fs.existsSync(NGINX), `nginx not found at ${NGINX}: apt-get install -y nginx-light (scripts/setup.sh does this for make test)`);
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  fs.chmodSync(dir, 0o755); // workers run as nobody when the master is root
  const confPath = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  fs.writeFileSync(confPath, conf);
  const globals = pid ? `daemon off; pid ${path.join(dir, 'nginx.pid')};` : 'daemon off;';
  return startProxy('nginx', NGINX, ['-p', `${dir}/`, '-c', confPath, '-e', errorLog, '-g', globals],
    { port, dir, logFile: errorLog });
}

/* The shipped examples (nginx.conf, policy.txt, Caddyfile, ...). */
export const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

/*
 * Starts nginx on examples/nginx.conf as shipped, with only its addresses changed: keygate at
 * 127.0.0.1:keygatePort, the API at 127.0.0.1:upstreamPort (the example's stand-in API on a
 * free port of its own, unused), nginx on a free port (one worker, a /_ready location), the
 * error log in DIR/error.log.  The example keeps its pid and temporary files under its -p
 * prefix, DIR.  Returns startNginx's handle plus url(path).
 */
export async function startExampleNginx(dir, keygatePort, upstreamPort) {
  const nport = await h.freePort();
  const sport = await h.freePort();
  let conf = fs.readFileSync(path.join(EXAMPLES, 'nginx.conf'), 'utf8');
  const subst = (from, to) => {
    assert.ok(conf.includes(from), `examples/nginx.conf should contain "${from}"`);
    conf = conf.split(from).join(to);
  };
  subst('server 127.0.0.1:8080;', `server 127.0.0.1:${keygatePort};`);
  subst('server 127.0.0.1:9000;', `server 127.0.0.1:${upstreamPort};`);
  subst('listen 127.0.0.1:9000;', `listen 127.0.0.1:${sport};`);
  subst('listen 127.0.0.1:8000;', `listen 127.0.0.1:${nport};\n        location = /_ready { return 204; }`);
  subst('worker_processes auto;', 'worker_processes 1;');
  subst('error_log stderr;', 'error_log error.log;');
  const ngx = await startNginx(dir, nport, conf, { pid: false });
  ngx.url = (p) => `http://127.0.0.1:${nport}${p}`;
  return ngx;
}

/* Starts `caddy run` on DIR/Caddyfile, its data and config kept in DIR; the Caddyfile must
 * answer GET /_ready with 204. */
export async function startCaddy(dir, port, caddyfile) {
  assert.ok(fs.existsSync(CADDY), `caddy not found at ${CADDY}: apt-get install -y caddy (scripts/setup.sh does this for make test)`);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'Caddyfile');
  fs.writeFileSync(file, caddyfile);
  return startProxy('caddy', CADDY, ['run', '--config', file, '--adapter', 'caddyfile'], {
    port, dir, env: { HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') },
  });
}

/* The upstream API: answers 200 JSON echoing the request and the X-Keygate-* headers. */
export function startUpstream() {
  const hits = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const hit = {
        method: req.method,
        path: req.url,
        clientId: req.headers['x-keygate-client-id'] ?? null,
        role: req.headers['x-keygate-role'] ?? null,
        authorization: req.headers.authorization ? 'present' : null,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      hits.push(hit);
      const body = JSON.stringify({ upstream: true, ...hit });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  srv.keepAliveTimeout = 2000;
  return new Promise((resolve, reject) => {
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      resolve({
        port: srv.address().port,
        hits,
        close: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(() => r()); }),
      });
    });
  });
}


/* Temp paths inside DIR, no access log: so nginx writes nothing outside the test directory. */
export function httpPrelude(dir) {
  return [
    'access_log off;',
    `client_body_temp_path ${dir}/tmp/client_body;`,
    `proxy_temp_path ${dir}/tmp/proxy;`,
    `fastcgi_temp_path ${dir}/tmp/fastcgi;`,
    `uwsgi_temp_path ${dir}/tmp/uwsgi;`,
    `scgi_temp_path ${dir}/tmp/scgi;`,
  ].join('\n    ');
}


/*
 * curl (execFile, no shell).  opts: {method, token, headers: {k: v}, data, contentType,
 * pathAsIs, from}.
 * Returns {status, headers (lower-case keys), body, json}.
 */
export function curl(url, opts = {}) {
  const args = ['-sS', '-i', '--max-time', '5', '--noproxy', '*'];
  if (opts.method) args.push('-X', opts.method);
  if (opts.pathAsIs) args.push('--path-as-is');
  if (opts.from) args.push('--interface', opts.from); // a loopback source address, 127.0.0.x
  if (opts.token) args.push('-H', `Authorization: Bearer ${opts.token}`);
  for (const [k, v] of Object.entries(opts.headers || {})) args.push('-H', `${k}: ${v}`);
  if (opts.data !== undefined) args.push('-H', `Content-Type: ${opts.contentType || 'application/json'}`, '--data-binary', opts.data);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile(CURL, args, { timeout: 10000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) { reject(new Error(`curl ${args.join(' ')}: ${err.message} ${stderr}`)); return; }
      let rest = stdout;
      for (;;) {
        const sep = rest.indexOf('\r\n\r\n');
        assert.ok(sep >= 0, `curl output has no header block: ${stdout}`);
        const lines = rest.slice(0, sep).split('\r\n');
        const m = /^HTTP\/[\d.]+ (\d{3})/.exec(lines[0]);
        assert.ok(m, `curl status line: ${lines[0]}`);
        const status = Number(m[1]);
        rest = rest.slice(sep + 4);
        if (status === 100) continue;
        const headers = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        let json;
        try { json = JSON.parse(rest); } catch { json = undefined; }
        resolve({ status, headers, body: rest, json });
        return;
      }
    });
  });
}

