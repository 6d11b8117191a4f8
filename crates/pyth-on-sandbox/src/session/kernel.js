// Pyth-On session kernel for Node.js (see session/mod.rs): runs cells like the REPL, with
// top-level `await`. Runs as `node --expose-internals -e <this>`. Descriptors: 3 cells in
// (length-prefixed JSON), 4 /code/main.js (unused: closed), 5 error, 6 status, 7 cell results
// out. SIGINT stops a cell's synchronous code (vm breakOnSigint) or abandons its await.
'use strict';
(function pythOnKernel() {
  const MAX_FRAME = 64 << 20;
  const fs = require('fs');
  const vm = require('vm');
  const util = require('util');
  const Module = require('module');
  const { processTopLevelAwait } = require('internal/repl/await');
  const fail = (msg) => {
    try {
      fs.writeSync(5, String(msg));
    } finally {
      process.exit(125);
    }
  };
  void process.stdout;
  void process.stderr;
  fs.closeSync(4);
  fs.writeSync(6, 'ready 1\n');

  const readExact = (n) => {
    const buf = Buffer.alloc(n);
    let off = 0;
    while (off < n) {
      let got;
      try {
        got = fs.readSync(3, buf, off, n - off, null);
      } catch (e) {
        if (e.code === 'EAGAIN') continue;
        throw e;
      }
      if (got === 0) process.exit(0); // the supervisor closed the session
      off += got;
    }
    return buf;
  };
  const readFrame = () => {
    const n = readExact(4).readUInt32BE(0);
    if (n > MAX_FRAME) fail('cell frame too large');
    return JSON.parse(readExact(n).toString('utf8'));
  };
  const writeFrame = (obj) => {
    const body = Buffer.from(JSON.stringify(obj), 'utf8');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length, 0);
    const all = Buffer.concat([head, body]);
    let off = 0;
    while (off < all.length) {
      try {
        off += fs.writeSync(7, all, off);
      } catch (e) {
        if (e.code !== 'EAGAIN') throw e;
      }
    }
  };
  try {
    const opening = readFrame();
    for (const [name, value] of opening.env) process.env[name] = value;
    // Node read NODE_PATH (the package environment) before the opening record set it.
    Module._initPaths();
  } catch (e) {
    fail(`session kernel: ${e && e.message}`);
  }
  for (const name of ['module', 'exports', '__filename', '__dirname']) delete globalThis[name];
  delete process._eval;
  globalThis.require = Module.createRequire('/work/[session]');
  process.argv.splice(0, process.argv.length, process.execPath);
  process.execArgv.splice(0, process.execArgv.length);
  // A rejection or exception nobody handles is reported, not fatal: the session goes on.
  process.on('unhandledRejection', (reason) => console.error('Uncaught (in promise)', reason));
  process.on('uncaughtException', (e) => console.error('Uncaught', e));
  let interrupt = null;
  process.on('SIGINT', () => {
    if (interrupt) interrupt();
  });
  fs.closeSync(6);
  // Last: EOF on the error pipe tells the supervisor the kernel runs.
  fs.closeSync(5);

  const compiles = (source, filename) => {
    try {
      new vm.Script(source, { filename });
      return true;
    } catch {
      return false;
    }
  };
  // Like the REPL: `{a: 1}` is an object, not a block; `await` at top level is rewritten into
  // an async function that keeps declarations global.
  const prepare = (code, filename) => {
    if (/^\s*\{/.test(code) && !/;\s*$/.test(code) && compiles(`(${code})`, filename)) {
      return { source: `(${code})`, wrapped: false };
    }
    if (!compiles(code, filename) && code.includes('await')) {
      const wrapped = processTopLevelAwait(code);
      if (wrapped !== null) return { source: wrapped, wrapped: true };
    }
    return { source: code, wrapped: false };
  };
  const interrupted = () => {
    const e = new Error('Script execution was interrupted by `SIGINT`');
    e.code = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
    return e;
  };
  const evaluate = async (code, n) => {
    const filename = `<cell-${n}>`;
    const { source, wrapped } = prepare(code, filename);
    const value = vm.runInThisContext(source, { filename, breakOnSigint: true, displayErrors: false });
    if (!wrapped) return value;
    const out = await new Promise((resolve, reject) => {
      interrupt = () => reject(interrupted());
      Promise.resolve(value).then(resolve, reject);
    }).finally(() => {
      interrupt = null;
    });
    return out && typeof out === 'object' && 'value' in out ? out.value : undefined;
  };
  const describe = (e) => {
    if (e instanceof Error) {
      const name = e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED' ? 'Interrupted' : e.name;
      const stack = String(e.stack || e);
      return { name, message: String(e.message).slice(0, 8192), traceback: stack.slice(0, 65536) };
    }
    const text = util.inspect(e).slice(0, 8192);
    return { name: 'Uncaught', message: text, traceback: `Uncaught ${text}` };
  };
  const runCell = async (cell, n) => {
    const results = [];
    let size = 0;
    let truncated = false;
    const add = (mime, data) => {
      if (size + data.length > cell.max_results) {
        truncated = true;
        return;
      }
      size += data.length;
      results.push({ mime, data });
    };
    let error = null;
    try {
      const value = await evaluate(cell.code, n);
      if (value !== undefined) {
        add('text/plain', util.inspect(value));
        try {
          const json = JSON.stringify(value);
          if (typeof json === 'string') add('application/json', json);
        } catch {
          // Not serialisable (a cycle, a BigInt): text only.
        }
      }
    } catch (e) {
      error = describe(e);
    }
    return { results, results_truncated: truncated, error };
  };
  const MAX_LIST = 1000; // session/file.rs MAX_LIST_ENTRIES
  const FILE_ERRORS = { ENOENT: 'not_found', EISDIR: 'wrong_kind', ENOTDIR: 'wrong_kind', ENOSPC: 'no_space', EDQUOT: 'no_space', EFBIG: 'too_large' };
  const failure = (kind, message) => ({ error: { kind, message: String(message).slice(0, 4096) } });
  const where = (p) => (p ? `/work/${p}` : '/work');
  const readFile = (req) => {
    const fd = fs.openSync(where(req.path), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFile()) return failure('wrong_kind', 'not a regular file');
      const chunks = [];
      let size = 0;
      for (;;) {
        const buf = Buffer.alloc(1 << 20);
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        size += n;
        if (size > req.max_bytes) return failure('too_large', `the file is larger than ${req.max_bytes} bytes`);
        chunks.push(buf.subarray(0, n));
      }
      return { content: Buffer.concat(chunks).toString('base64'), size };
    } finally {
      fs.closeSync(fd);
    }
  };
  const listDir = (req) => {
    const prefix = req.dir ? `${req.dir}/` : '';
    const utf8 = (b) => Buffer.from(b.toString('utf8'), 'utf8').equals(b);
    const names = fs
      .readdirSync(where(req.dir), { encoding: 'buffer' })
      .filter(utf8) // a name that is not UTF-8 cannot be named over the API
      .map((b) => b.toString('utf8'))
      .sort();
    const entries = names.slice(0, MAX_LIST).map((name) => {
      const st = fs.lstatSync(`${where(req.dir)}/${name}`);
      const kind = st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';
      return { path: prefix + name, kind, size: kind === 'file' ? st.size : 0 };
    });
    return { entries, truncated: names.length > MAX_LIST };
  };
  const fileOps = {
    write: (req) => {
      const target = where(req.path);
      fs.mkdirSync(target.slice(0, target.lastIndexOf('/')), { recursive: true, mode: 0o755 });
      const data = Buffer.from(req.content, 'base64');
      const fd = fs.openSync(target, 'w', 0o644);
      try {
        fs.writeFileSync(fd, data);
      } catch (e) {
        fs.rmSync(target, { force: true }); // no half-written file stays behind
        throw e;
      } finally {
        fs.closeSync(fd);
      }
      return { size: data.length };
    },
    read: readFile,
    list: listDir,
    delete: (req) => {
      fs.lstatSync(where(req.path));
      fs.rmSync(where(req.path), { recursive: true });
      return {};
    },
  };
  const fileOp = (req) => {
    try {
      return fileOps[req.op](req);
    } catch (e) {
      return failure(FILE_ERRORS[e && e.code] || 'failed', (e && e.message) || e);
    }
  };
  // Cells arrive on a stream, so timers and promises of earlier cells run between cells.
  const input = fs.createReadStream(null, { fd: 3, autoClose: false, highWaterMark: 1 << 16 });
  let pending = Buffer.alloc(0);
  let busy = false;
  let count = 0;
  const next = async () => {
    if (busy) return;
    busy = true;
    while (pending.length >= 4) {
      const n = pending.readUInt32BE(0);
      if (n > MAX_FRAME) fail('cell frame too large');
      if (pending.length < 4 + n) break;
      const cell = JSON.parse(pending.subarray(4, 4 + n).toString('utf8'));
      pending = pending.subarray(4 + n);
      if (cell.op) {
        writeFrame(fileOp(cell));
        continue;
      }
      count += 1;
      writeFrame(await runCell(cell, count));
    }
    busy = false;
  };
  input.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    next();
  });
  input.on('end', () => process.exit(0));
})();
