// The official Node SDK (unleash-client) against a rollsafe server, for
// tests/server/test_unleash_node_sdk.py. Prints one JSON line per report on stdout.
//
//   node unleash_check.js evaluate URL TOKEN COUNT   evaluations of COUNT users, then flush
//   node unleash_check.js stream URL TOKEN           streaming: report each change of "search"
'use strict';
const { initialize, InMemStorageProvider } = require('unleash-client');

const [mode, url, token, count] = process.argv.slice(2);
const warnings = [];
const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

const unleash = initialize({
  url,
  appName: 'node-checkout',
  instanceId: `node-${mode}`,
  customHeaders: { Authorization: token },
  refreshInterval: 1000,
  metricsInterval: 1000,
  experimentalMode: mode === 'stream' ? { type: 'streaming' } : undefined,
  // The default file backup is /tmp/unleash-backup-<appName>.json: test workers running
  // side by side would race on it, and a stale one from an earlier run would be read.
  storageProvider: new InMemStorageProvider(),
});
unleash.on('warn', (message) => warnings.push(String(message)));
unleash.on('error', (error) => warnings.push(`error: ${error && error.message ? error.message : error}`));

async function evaluate() {
  const flags = ['checkout', 'search', 'dark'];
  unleash.impactMetrics.defineCounter('orders', 'orders placed');
  const results = [];
  for (let i = 0; i < Number(count); i += 1) {
    const context = { userId: `user-${i}`, sessionId: `s-${i}` };
    const enabled = flags.map((name) => unleash.isEnabled(name, context));
    const variant = unleash.getVariant('checkout', context);
    unleash.impactMetrics.incrementCounter('orders', 1, { flagNames: ['checkout'], context });
    results.push({ enabled, variant: variant.name, variantEnabled: variant.enabled });
  }
  await unleash.destroyWithFlush();
  say({ results, warnings });
}

async function stream() {
  say({ ready: true });
  let last = unleash.isEnabled('search', { userId: 'u1' });
  const seen = [];
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline && seen.length < 2) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = unleash.isEnabled('search', { userId: 'u1' });
    if (now !== last) {
      seen.push(now);
      say({ search: now, at: Date.now() });
      last = now;
    }
  }
  await unleash.destroyWithFlush();
  say({ done: seen, warnings });
}

unleash.on('synchronized', () => {
  (mode === 'stream' ? stream() : evaluate()).catch((error) => {
    say({ failed: String(error && error.stack ? error.stack : error), warnings });
    process.exit(1);
  });
});
setTimeout(() => { say({ failed: 'not synchronized within 10 s', warnings }); process.exit(1); }, 10000).unref();
