// Runs inside the client's namespace (`ip netns exec NS node lvs-client.mjs JSON`):
// `count` HTTP GETs, each on a new TCP connection (so each is balanced on
// its own), `concurrency` at a time, each at least `paceMs` after the
// previous one of its lane; from `local` when given. Prints one JSON line:
// {"counts":{"rs1":1500,...},"failed":0,"errors":["..."],"failTimes":[epoch ms]}
// (the body, trimmed, names the server that answered).
import { request } from 'node:http';

const o = JSON.parse(process.argv[2]);
const counts = {};
const errors = [];
/** When requests failed (epoch ms), for the length of an outage. */
const failTimes = [];
let failed = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function once(url) {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: o.timeoutMs ?? 3000, ...(o.local ? { localAddress: o.local } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(res.statusCode === 200 ? { ok: body.trim() } : { err: `HTTP ${res.statusCode}` }));
      res.on('error', (e) => resolve({ err: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ err: e.code ?? e.message }));
    req.end();
  });
}

let next = 0;
async function lane() {
  for (;;) {
    const i = next++;
    if (i >= o.count) return;
    const url = Array.isArray(o.url) ? o.url[i % o.url.length] : o.url;
    const t = Date.now();
    const r = await once(url);
    if (r.ok !== undefined) counts[r.ok] = (counts[r.ok] ?? 0) + 1;
    else { failed += 1; if (errors.length < 10) errors.push(`${url}: ${r.err}`); if (failTimes.length < 1000) failTimes.push(t); }
    if (o.paceMs) await sleep(Math.max(0, o.paceMs - (Date.now() - t)));
  }
}
await Promise.all(Array.from({ length: o.concurrency ?? 1 }, lane));
process.stdout.write(`${JSON.stringify({ counts, failed, errors, failTimes })}\n`);
