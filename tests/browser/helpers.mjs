// Shared helpers for valfri's browser tests (node:test + playwright-core).
//
// Environment (scripts/test sets both):
//   VALFRI_BIN  absolute path to the built `valfri` binary
//   CHROMIUM    Chromium executable (default /usr/bin/chromium, Debian's)
//
// playwright-core is used on purpose instead of `playwright`: it never
// downloads a browser, and this machine can't; we drive Debian's chromium.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const START_TIMEOUT_MS = 120_000;
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

// Every server started by this process, so none outlives it even when a
// test forgets to stop() or the runner is interrupted.
const running = new Set();
process.on('exit', () => {
  for (const s of running) s.killNow();
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const s of running) s.killNow();
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

/**
 * Start valfri on a random loopback port with a fresh data dir.
 * demo: true runs `valfri demo` (seeded demo data, user admin/valfri-demo);
 * demo: false runs `valfri serve`. extraArgs are appended to the command.
 * Resolves to { url, stop(), output() } once the server prints
 * "listening on http://…"; rejects if it exits first or after 120 s.
 */
export async function startValfri({ demo = true, extraArgs = [], env = {} } = {}) {
  const bin = process.env.VALFRI_BIN;
  if (!bin) throw new Error('VALFRI_BIN is not set (run the browser tests via scripts/test)');
  const dataDir = mkdtempSync(join(tmpdir(), 'valfri-browser-'));
  const args = [demo ? 'demo' : 'serve', '--addr', '127.0.0.1:0', '--data', dataDir, ...extraArgs];
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });

  // Keep the last lines of output for error messages.
  const lines = [];
  const remember = (line) => {
    lines.push(line);
    if (lines.length > 200) lines.shift();
    if (process.env.VALFRI_TEST_VERBOSE) process.stderr.write(`[valfri] ${line}\n`);
  };
  const output = () => lines.join('\n');

  let exited = false;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });

  const handle = {
    killNow() {
      if (!exited) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      running.delete(handle);
    },
  };
  running.add(handle);

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      handle.killNow();
      reject(new Error(`${bin} ${args.join(' ')} did not print "listening on" within ${START_TIMEOUT_MS / 1000}s:\n${output()}`));
    }, START_TIMEOUT_MS);
    const onLine = (line) => {
      line = line.replace(ANSI, '');
      remember(line);
      const m = line.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    // Only stdout announces the address, but keep stderr for diagnostics.
    createInterface({ input: child.stderr }).on('line', (l) => remember(l.replace(ANSI, '')));
    child.once('error', (err) => {
      clearTimeout(timer);
      handle.killNow();
      reject(new Error(`could not start ${bin}: ${err.message}`));
    });
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer);
      handle.killNow();
      reject(new Error(`${bin} ${args.join(' ')} exited (code ${code}, signal ${signal}) before listening:\n${output()}`));
    });
  });

  async function stop() {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitPromise;
      clearTimeout(t);
    }
    handle.killNow();
  }

  return { url, stop, output };
}

/**
 * Launch Debian's headless chromium through playwright-core.
 * The flags keep chromium from phoning home: the machine has no internet,
 * and without them it floods the log with refused connections. Running as
 * root (CI) needs --no-sandbox; /dev/shm may be tiny in containers.
 */
export async function launchBrowser(options = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    ...options,
  });
}

/**
 * Run axe (WCAG 2.0/2.1 A and AA) on the page; throw listing every violation.
 */
export async function checkA11y(page) {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  const violations = results.violations;
  if (violations.length === 0) return results;
  const lines = [`${violations.length} accessibility violation(s) on ${page.url()}:`];
  for (const v of violations) {
    lines.push(`- ${v.id} [${v.impact}] ${v.help} (${v.helpUrl})`);
    for (const node of v.nodes) {
      lines.push(`    at ${node.target.join(' ')}`);
      if (node.failureSummary) {
        lines.push(...node.failureSummary.split('\n').map((l) => `      ${l}`));
      }
    }
  }
  throw new Error(lines.join('\n'));
}

/**
 * Sign in through the login form and wait for the resulting navigation.
 * The submit button is taken from the form holding the username field, so
 * other forms on the page (language switch, sign-out) can't be hit.
 */
export async function signIn(page, url, username, password) {
  await page.goto(`${url}/login`);
  const form = page.locator('form:has(input[name="username"])');
  await form.locator('input[name="username"]').fill(username);
  await form.locator('input[name="password"]').fill(password);
  await Promise.all([
    page.waitForNavigation(),
    form.locator('button[type="submit"]').click(),
  ]);
}
