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
    const job = JSON.parse(readExact(n).toString('utf8'));
    const source = Buffer.from(job.code, 'utf8');
    let off = 0;
    while (off < source.length) off += fs.writeSync(4, source, off);
    fs.closeSync(4);
    for (const v of job.env) process.env[v.name] = v.value;
    process.argv.splice(0, process.argv.length, process.execPath, MAIN, ...job.args);
    // Children (child_process.fork, worker threads) inherit execArgv: not this bootstrap.
    process.execArgv.splice(0, process.execArgv.length);
    fs.closeSync(3);
    fs.closeSync(6);
  } catch (e) {
    fail(`bootstrap: ${e && e.message}`);
  }
  // Last: EOF on the error pipe tells the supervisor the user's program starts now.
  fs.closeSync(5);
  Module.runMain(MAIN);
})();
