// The README's code blocks, read and run (not a test file itself; tests/docs/readme.test.mjs).
//
// The convention (README.md, "How this README is kept true", says the same):
//   - Every code block is fenced with a language.  ```sh blocks are run, each command must
//     exit 0 (a line ending in `\` goes on to the next); ```console blocks
//     are run command by command, `$ ` starting a command (a line ending in `\` goes on to
//     the next), and the lines up to the next `$ ` are the output it must print (stdout and
//     stderr together).  In a shown output, `…` matches anything within its line, and a line
//     holding only `…` matches any number of lines, none included.  A last output line
//     `[exit N]` says the command exits with N; otherwise it must exit 0.
//   - <!-- not run: REASON --> on the line before a block: not run, and reported.
//     <!-- background --> before a ```sh block of one command: started in the background
//     (a server), waited for until the 127.0.0.1 address in it accepts connections, stopped
//     after the last block.  <!-- excerpt: FILE --> before a block: its lines are lines of
//     FILE in order (indentation aside), a line `…` standing for any lines left out.
//   - Blocks of one file run in one shell (bash), so a variable set in one block is there in
//     the next, in a scratch directory holding build/keygate (the binary under test), a copy
//     of examples/ and an empty $HOME, as at the top of a keygate tree.  The addresses
//     127.0.0.1:8080, 127.0.0.1:8000 and 127.0.0.1:9000 are replaced by free ports
//     everywhere: in the commands, the shown output and the copy of examples/.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/*
 * The fenced blocks of markdown text: [{lang, line (1-based, of the opening fence), text,
 * marker: {kind: 'not run'|'background'|'excerpt', arg} or null}].  Also returns the
 * indented (unfenced) code blocks it saw, as line numbers, in `indented`.
 */
export function parseBlocks(md) {
  const lines = md.split('\n');
  const blocks = [];
  const indented = [];
  let prevBlank = true;
  let inList = false;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)```(\S*)\s*$/.exec(lines[i]);
    if (fence) {
      const start = i;
      const body = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) body.push(lines[i].slice(fence[1].length));
      let marker = null;
      let j = start - 1;
      while (j >= 0 && lines[j].trim() === '') j--;
      const m = j >= 0 && /^<!--\s*(not run|background|excerpt)\s*(?::\s*(.*?))?\s*-->$/.exec(lines[j].trim());
      if (m) marker = { kind: m[1], arg: m[2] || '' };
      blocks.push({ lang: fence[2], line: start + 1, text: body.join('\n'), marker });
      prevBlank = false;
      continue;
    }
    const l = lines[i];
    if (/^\s*([-*]|\d+\.)\s/.test(l)) inList = true;
    else if (l.trim() !== '' && !/^\s/.test(l)) inList = false;
    if (prevBlank && !inList && /^ {4}\S/.test(l)) indented.push(i + 1);
    prevBlank = l.trim() === '';
  }
  return { blocks, indented };
}

/* A console block's commands: [{cmd, expect: [lines], status}]. */
export function parseConsole(text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('$ ')) {
      assert.ok(out.length, `output before the first "$ " command: ${lines[i]}`);
      out[out.length - 1].expect.push(lines[i]);
      continue;
    }
    let cmd = lines[i].slice(2);
    while (cmd.endsWith('\\') && i + 1 < lines.length) cmd += `\n${lines[++i]}`;
    out.push({ cmd, expect: [], status: 0 });
  }
  for (const c of out) {
    while (c.expect.length && c.expect[c.expect.length - 1].trim() === '') c.expect.pop();
    const m = c.expect.length && /^\[exit (\d+)\]$/.exec(c.expect[c.expect.length - 1]);
    if (m) { c.status = Number(m[1]); c.expect.pop(); }
  }
  return out;
}

/* A sh block's commands, each checked for its exit status: a line ending in `\` goes on to
 * the next; blank lines and comments are left out. */
export function parseScript(text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*(#.*)?$/.test(lines[i])) continue;
    let cmd = lines[i];
    while (cmd.endsWith('\\') && i + 1 < lines.length) cmd += `\n${lines[++i]}`;
    out.push(cmd);
  }
  return out;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/* Whether output lines match the shown lines (`…` within a line, a line of `…` alone). */
export function outputMatches(shown, actual) {
  const pats = shown.map((l) => (l.trim() === '…' ? null
    : new RegExp(`^${l.trimEnd().split('…').map(escape).join('.*')}$`)));
  const act = actual.map((l) => l.trimEnd());
  const memo = new Map();
  const go = (p, a) => {
    const key = p * 100003 + a;
    if (memo.has(key)) return memo.get(key);
    let r;
    if (p === pats.length) r = a === act.length;
    else if (pats[p] === null) r = go(p + 1, a) || (a < act.length && go(p, a + 1));
    else r = a < act.length && pats[p].test(act[a]) && go(p + 1, a + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/* Whether the block's lines are lines of file in order (`…` for lines left out), leading
 * white space aside (an excerpt may be indented less than in its file). */
export function isExcerpt(block, file) {
  const want = block.split('\n').map((l) => l.trim());
  const have = file.split('\n').map((l) => l.trim());
  for (let start = 0; start < have.length; start++) {
    let a = start;
    let ok = true;
    for (let p = 0; p < want.length && ok; p++) {
      if (want[p].trim() === '…') {
        const next = want[p + 1];
        if (next === undefined) { a = have.length; break; }
        while (a < have.length && have[a] !== next) a++;
        if (a === have.length) ok = false;
        continue;
      }
      if (have[a] !== want[p]) ok = false;
      a++;
    }
    if (ok) return true;
  }
  return false;
}

/* Waits (≤ 10 s) until host:port accepts a TCP connection. */
export async function waitForPort(port, host = '127.0.0.1', isAlive = () => true) {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline && isAlive()) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/*
 * One bash, kept for a whole file's blocks, in cwd.  run(cmd, timeoutMs) resolves to
 * {status, output}: the command's stdout and stderr together, without the newline that ends
 * them.  Its standard input is /dev/null.
 */
export function startShell(cwd, env) {
  const proc = spawn('/bin/bash', ['--noprofile', '--norc'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let waiting = null;
  const onData = (d) => {
    buf += d;
    if (!waiting) return;
    const m = new RegExp(`\\n?${waiting.mark} (\\d+)\\n`).exec(buf);
    if (!m) return;
    const output = buf.slice(0, m.index);
    buf = buf.slice(m.index + m[0].length);
    const w = waiting;
    waiting = null;
    clearTimeout(w.timer);
    w.resolve({ status: Number(m[1]), output });
  };
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', onData);
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { buf += `[shell] ${d}`; });
  proc.stdin.write('exec 2>&1\n');
  let n = 0;
  return {
    proc,
    run(cmd, timeoutMs = 30000) {
      assert.equal(waiting, null, 'one command at a time');
      const mark = `__README_DONE_${process.pid}_${++n}__`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting = null;
          reject(new Error(`timed out after ${timeoutMs} ms: ${cmd}\noutput so far:\n${buf}`));
        }, timeoutMs);
        waiting = { mark, resolve, timer };
        // Braces keep assignments in this shell; the marker always starts a line of its own.
        proc.stdin.write(`{ ${cmd}\n} </dev/null\nprintf '\\n%s %d\\n' ${mark} $?\n`);
        onData('');
      });
    },
    close() {
      try { proc.stdin.end(); } catch { /* gone */ }
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
    },
  };
}

/* Replaces every key of map by its value in text. */
export function rewrite(text, map) {
  let t = text;
  for (const [from, to] of Object.entries(map)) t = t.split(from).join(to);
  return t;
}

/* Copies dir src to dst, rewriting each file's text with map. */
export function copyRewritten(src, dst, map) {
  fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const from = path.join(src, e.name);
    const to = path.join(dst, e.name);
    if (e.isDirectory()) copyRewritten(from, to, map);
    else fs.writeFileSync(to, rewrite(fs.readFileSync(from, 'utf8'), map));
  }
}
