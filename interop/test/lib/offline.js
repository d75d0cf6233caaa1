'use strict';
// Offline plumbing for running the SDK's own network client against the
// devnet: a recording JSON-RPC proxy in front of the devnet chain, and a
// fetch guard that answers the SDK's hard-coded block indexer from the
// devnet chain and refuses every other non-loopback request.

const http = require('node:http');

const realFetch = globalThis.fetch;

async function rpc(url, method, params) {
  const r = await realFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await r.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

// startRPCProxy forwards JSON-RPC to target and records every call:
// {method, params, error} (error: the JSON-RPC error or HTTP status, if any).
async function startRPCProxy(target) {
  const calls = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let reqs;
      try {
        reqs = JSON.parse(body);
      } catch {
        reqs = null;
      }
      try {
        const r = await realFetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const text = await r.text();
        let out;
        try {
          out = JSON.parse(text);
        } catch {
          out = null;
        }
        const list = Array.isArray(reqs) ? reqs : [reqs];
        const outs = Array.isArray(out) ? out : [out];
        for (const q of list) {
          if (!q) continue;
          const a = outs.find((o) => o && o.id === q.id);
          calls.push({ method: q.method, params: q.params, result: a ? a.result : undefined, error: !r.ok ? `HTTP ${r.status}: ${text}` : a && a.error ? a.error : null });
        }
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') || 'application/json' });
        res.end(text);
      } catch (e) {
        calls.push({ method: reqs && reqs.method, params: reqs && reqs.params, error: String(e) });
        res.writeHead(502);
        res.end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(resolve);
    }),
  };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

// installFetchGuard replaces globalThis.fetch: the SDK's block indexer
// (https://block-indexer.litgateway.com/get_most_recent_valid_block, not
// configurable) is answered with the devnet chain's latest block; any other
// non-loopback URL is refused and recorded; loopback requests are recorded
// with their status. Returns {refused, shimmed, local, restore}.
function installFetchGuard(rpcURL) {
  const refused = [];
  const shimmed = [];
  const local = []; // loopback requests: {method, url, path, status}
  globalThis.fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? String(input) : input.url);
    if (url.hostname === 'block-indexer.litgateway.com' && url.pathname === '/get_most_recent_valid_block') {
      const b = await rpc(rpcURL, 'eth_getBlockByNumber', ['latest', false]);
      const answer = { blockhash: b.hash, timestamp: parseInt(b.timestamp, 16) };
      shimmed.push({ url: String(url), answer });
      return new Response(JSON.stringify(answer), { status: 200, headers: { 'content-type': 'application/json' } });
    }
    if (!LOOPBACK.has(url.hostname)) {
      refused.push(String(url));
      throw new TypeError(`fetch failed: offline test refuses ${url}`);
    }
    const res = await realFetch(input, init);
    local.push({ method: (init && init.method) || 'GET', url: String(url), path: url.pathname, status: res.status });
    return res;
  };
  return {
    refused,
    shimmed,
    local,
    restore: () => {
      globalThis.fetch = realFetch;
    },
  };
}

module.exports = { rpc, startRPCProxy, installFetchGuard };
