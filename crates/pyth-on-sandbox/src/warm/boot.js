// Pyth-On warm bootstrap for Node.js (see warm.rs). Runs as `node -e <this>` inside a prepared
// sandbox, unprivileged and under seccomp, before any job exists. Descriptors: 3 release (read
// the job), 4 /code/main.js (write the program), 5 error, 6 status.
'use strict';
(function pythOnBoot() {
  const MAIN = '/code/main.js';
  const MAX_FRAME = 64 << 20;
  const fs = require('fs');
  const fail = (msg) => {
    try {
      fs.writeSync(5, String(msg));
    } finally {
      process.exit(125);
    }
  };
  // Only the loader; more modules loaded ahead of time would slow every program's exit.
  const Module = require('module');
  // Node builds process.stdout/stderr lazily on first use (~4 ms for a pipe): build them now,
  // on descriptors 1 and 2 that are already the run's output pipes.
  void process.stdout;
  void process.stderr;
  // The loader's first resolve and first compile are slow (~1 ms: lazy set-up inside Node);
  // do them now on things that are not the job's (the interpreter's own path, an empty
  // module that is never cached).
  try {
    Module._resolveFilename(process.execPath, null, false);
  } catch {
    // Only a warm-up.
  }
  const warm = new Module('/code/.pyth-on-warm-up.js', null);
  warm.filename = warm.id;
  warm.paths = [];
  warm._compile('void 0', warm.filename);
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
      if (got === 0) fail('the release pipe closed before the job arrived');
      off += got;
    }
    return buf;
  };
  try {
    const n = readExact(4).readUInt32BE(0);
    if (n > MAX_FRAME) fail('release frame too large');
    const body = readExact(n);
    let pos = 0;
    // Length-prefixed fields (warm.rs, `encode_release`).
    const field = () => {
      const size = body.readUInt32BE(pos);
      const start = pos + 4;
      pos = start + size;
      if (pos > body.length) fail('truncated release frame');
      return body.subarray(start, pos);
    };
    const text = () => field().toString('utf8');
    field(); // timeout: Node has no setrlimit; the profile's RLIMIT_CPU stays (warm.rs)
    const source = field();
    const args = Array.from({ length: Number(text()) }, text);
    const env = Array.from({ length: Number(text()) }, () => [text(), text()]);
    let off = 0;
    while (off < source.length) off += fs.writeSync(4, source, off);
    fs.closeSync(4);
    for (const [name, value] of env) process.env[name] = value;
    process.argv.splice(0, process.argv.length, process.execPath, MAIN, ...args);
    // Children (child_process.fork, worker threads) inherit execArgv: not this bootstrap.
    process.execArgv.splice(0, process.execArgv.length);
    fs.closeSync(3);
    fs.closeSync(6);
  } catch (e) {
    fail(`bootstrap: ${e && e.message}`);
  }
  // `node -e` defines these as globals for the eval'd script (and keeps its source in
  // process._eval); a program started with `node main.js` has none of them.
  for (const name of ['module', 'exports', 'require', '__filename', '__dirname']) {
    delete globalThis[name];
  }
  delete process._eval;
  // Last: EOF on the error pipe tells the supervisor the user's program starts now.
  fs.closeSync(5);
  Module.runMain(MAIN);
})();
