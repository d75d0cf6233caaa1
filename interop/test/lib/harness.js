'use strict';
// Test harness: builds litsignd and the Go helper once per test file into a
// temp dir, starts `litsignd dev` on loopback ports, waits for its dev-info
// file, and stops it with SIGTERM at the end.

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const execFileP = promisify(execFile);

const INTEROP_DIR = path.resolve(__dirname, '..', '..');
const REPO_ROOT = path.resolve(INTEROP_DIR, '..');

// The SDK logs through pino; keep test output readable.
process.env.PINO_LOG_LEVEL = process.env.PINO_LOG_LEVEL || 'silent';
process.env.LOG_LEVEL = process.env.LOG_LEVEL || 'silent';

function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// build compiles ./cmd/litsignd and ./interop/gohelper into dir (one go
// build: the second test file reuses the Go build cache).
async function build(dir) {
  await execFileP('go', ['build', '-o', dir + path.sep, './cmd/litsignd', './interop/gohelper'], {
    cwd: REPO_ROOT,
    maxBuffer: 16 << 20,
  });
  return { litsignd: path.join(dir, 'litsignd'), gohelper: path.join(dir, 'gohelper') };
}

async function waitFor(fn, { timeoutMs = 60000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// startDev builds the binaries and runs `litsignd dev`; it resolves once the
// dev-info file exists. stop() sends SIGTERM and waits for the exit.
async function startDev() {
  const dir = tempDir('litsignd-interop-');
  const bins = await build(dir);
  const infoPath = path.join(dir, 'dev-info.json');
  const logPath = path.join(dir, 'litsignd.log');
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(
    bins.litsignd,
    ['dev', '--data-dir', path.join(dir, 'data'), '--nats-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--dev-info', infoPath],
    { cwd: REPO_ROOT, stdio: ['ignore', log, log] },
  );
  let exited = null;
  const exit = new Promise((resolve) => proc.on('exit', (code, signal) => resolve((exited = { code, signal }))));
  const readLog = () => {
    try {
      return fs.readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  try {
    await waitFor(
      () => {
        if (exited) throw new Error(`litsignd dev exited early (${JSON.stringify(exited)}):\n${readLog()}`);
        return fs.existsSync(infoPath);
      },
      { timeoutMs: 60000, what: 'the dev-info file of litsignd dev' },
    );
  } catch (e) {
    proc.kill('SIGTERM');
    throw e;
  }
  const info = JSON.parse(fs.readFileSync(infoPath, 'utf8'));
  const stop = async () => {
    if (!exited) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exit;
      clearTimeout(t);
    }
    fs.closeSync(log);
    if (!process.env.LITSIGND_INTEROP_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    return exited;
  };
  return { dir, bins, info, infoPath, proc, stop, readLog };
}

// gohelper runs the Go helper; input (a string) goes to its stdin.
function gohelper(bin, args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { cwd: REPO_ROOT, maxBuffer: 16 << 20, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${stderr}`;
        reject(err);
        return;
      }
      resolve(stdout);
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

module.exports = { INTEROP_DIR, REPO_ROOT, tempDir, build, startDev, gohelper, waitFor, execFileP };
