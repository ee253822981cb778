// "The README is true" (issue 16): README.md's code blocks are run and their shown output
// compared, by the convention written at the top of tests/docs/readme.mjs and in the
// README's own section "How this README is kept true".  A block's failure names its line
// in README.md and prints what was shown beside what was printed, so that fixing it is a
// copy.
//
// Run: KEYGATE_BIN=$PWD/build/keygate node --test --test-concurrency=1 tests/docs/readme.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, h } from './lib.mjs';
import {
  copyRewritten, isExcerpt, outputMatches, parseBlocks, parseConsole, parseScript, rewrite, startShell, waitForPort,
} from './readme.mjs';

const README = path.join(ROOT, 'README.md');
const RUN = new Set(['sh', 'console']);

describe('README.md: how its blocks are written', () => {
  const md = fs.readFileSync(README, 'utf8');
  const { blocks, indented } = parseBlocks(md);

  test('every code block is fenced and names its language', () => {
    assert.deepEqual(indented, [], 'indented code blocks at these lines: fence them (```sh, ```console, ```text …)');
    const bare = blocks.filter((b) => !b.lang).map((b) => b.line);
    assert.deepEqual(bare, [], 'fenced blocks without a language at these lines');
    const shells = blocks.filter((b) => ['bash', 'shell', 'shell-session'].includes(b.lang)).map((b) => b.line);
    assert.deepEqual(shells, [], 'write sh (a script) or console (commands and output) at these lines');
  });

  test('every block not run says why, and each excerpt is in its file', () => {
    for (const b of blocks) {
      if (!b.marker) continue;
      if (b.marker.kind === 'not run') {
        assert.ok(b.marker.arg, `README.md:${b.line}: <!-- not run: REASON --> needs its reason`);
        console.log(`# README.md:${b.line} not run: ${b.marker.arg}`);
      } else if (b.marker.kind === 'excerpt') {
        const file = path.join(ROOT, b.marker.arg);
        assert.ok(fs.existsSync(file), `README.md:${b.line}: excerpt of ${b.marker.arg}, which does not exist`);
        assert.ok(isExcerpt(b.text, fs.readFileSync(file, 'utf8')),
          `README.md:${b.line}: the block is not an excerpt of ${b.marker.arg} (its lines, in order, "…" for lines left out):\n${b.text}`);
      } else if (b.marker.kind === 'background') {
        assert.equal(b.lang, 'sh', `README.md:${b.line}: <!-- background --> goes before a sh block`);
      }
    }
  });

  test('the route policy shown is examples/policy.txt\'s rules', () => {
    const policy = blocks.find((b) => b.marker?.kind === 'excerpt' && b.marker.arg === 'examples/policy.txt');
    assert.ok(policy, 'a block marked <!-- excerpt: examples/policy.txt -->');
    const rules = (t) => t.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
    assert.deepEqual(rules(policy.text), rules(fs.readFileSync(path.join(ROOT, 'examples/policy.txt'), 'utf8')),
      'every rule of the file, none left out');
  });
});

describe('README.md: the blocks run as shown', () => {
  const md = fs.readFileSync(README, 'utf8');
  const { blocks } = parseBlocks(md);
  let dir;
  let map;
  let shell;
  const background = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-readme-'));
    fs.chmodSync(dir, 0o755); // nginx's workers run as nobody when the test runs as root
    map = {
      '127.0.0.1:8080': `127.0.0.1:${await h.freePort()}`,
      '127.0.0.1:8000': `127.0.0.1:${await h.freePort()}`,
      '127.0.0.1:9000': `127.0.0.1:${await h.freePort()}`,
    };
    fs.mkdirSync(path.join(dir, 'build'));
    fs.symlinkSync(h.BIN, path.join(dir, 'build/keygate'));
    copyRewritten(path.join(ROOT, 'examples'), path.join(dir, 'examples'), map);
    fs.mkdirSync(path.join(dir, 'home'));
    const env = {
      PATH: `${process.env.PATH}:/usr/sbin:/sbin`, HOME: path.join(dir, 'home'), LANG: 'C.UTF-8', TERM: 'dumb',
      TMPDIR: os.tmpdir(),
    };
    // The sanitizers' strictness (make check-asan, .ci/run) holds in the README's commands too.
    for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) if (process.env[k]) env[k] = process.env[k];
    shell = startShell(dir, env);
    shell.env = env;
  });

  after(async () => {
    shell?.close();
    for (const b of background.reverse()) {
      try { process.kill(-b.pid, 'SIGTERM'); } catch { /* gone */ }
      await Promise.race([b.exited, h.unrefSleep(5000)]);
      try { process.kill(-b.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    // an nginx the README started and, the test having failed, did not stop
    if (dir) {
      for (const pidFile of findFiles(dir, 'nginx.pid')) {
        const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
        if (pid > 1) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
      }
      await h.sleep(200);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const b of blocks) {
    if (!RUN.has(b.lang)) continue;
    const where = `README.md:${b.line}`;
    if (b.marker?.kind === 'not run') {
      test(`${where} (${b.lang}) not run: ${b.marker.arg}`, { skip: b.marker.arg }, () => {});
      continue;
    }
    if (b.marker?.kind === 'background') {
      test(`${where} in the background: ${b.text.split('\n')[0]}`, async () => {
        const cmd = rewrite(b.text, map);
        const proc = spawn('/bin/bash', ['-c', `exec ${cmd}`], { cwd: dir, env: shell.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        let out = '';
        proc.stdout.on('data', (d) => { out += d; });
        proc.stderr.on('data', (d) => { out += d; });
        let alive = true;
        const exited = new Promise((r) => proc.on('exit', () => { alive = false; r(); }));
        background.push({ pid: proc.pid, exited });
        const port = /127\.0\.0\.1:(\d+)/.exec(cmd);
        assert.ok(port, `${where}: a background command listens on a 127.0.0.1 address it names`);
        assert.ok(await waitForPort(Number(port[1]), '127.0.0.1', () => alive), `${where}: nothing listens on ${port[0]}:\n${out}`);
        await h.sleep(200); // a keygate's first start finishes just after it listens
        assert.ok(alive, `${where}: exited:\n${out}`);
      });
      continue;
    }
    if (b.lang === 'sh') {
      test(`${where} (sh) runs`, async () => {
        for (const cmd of parseScript(rewrite(b.text, map))) {
          const r = await shell.run(cmd, 60000);
          assert.equal(r.status, 0, `${where}: ${cmd}\nexited ${r.status}:\n${r.output}`);
        }
      });
      continue;
    }
    test(`${where} (console) prints what it shows`, async () => {
      for (const c of parseConsole(rewrite(b.text, map))) {
        const r = await shell.run(c.cmd, 60000);
        const actual = r.output.replace(/\n$/, '').split('\n');
        if (actual.length === 1 && actual[0] === '') actual.pop();
        assert.equal(r.status, c.status, `${where}: $ ${c.cmd}\nexited ${r.status}, shown ${c.status}; it printed:\n${r.output}`);
        assert.ok(outputMatches(c.expect, actual),
          `${where}: $ ${c.cmd}\n--- shown:\n${c.expect.join('\n')}\n--- printed:\n${actual.join('\n')}`);
      }
    });
  }
});

/* Files named name anywhere below dir. */
function findFiles(dir, name) {
  const out = [];
  for (const e of fs.readdirSync(dir, { recursive: true })) if (path.basename(e) === name) out.push(path.join(dir, e));
  return out;
}
