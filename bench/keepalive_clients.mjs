// clients/js/hermes-client.js clients in one Node process for bench/keepalive.py:
// `node --experimental-websocket bench/keepalive_clients.mjs '<json>'` with
// {"url", "runMs", "clients": [{"name", "options"}]}; each client's token is its name. Prints one JSON line:
// {"<name>": {"opens": [t…], "closes": [[t, code, reason]…], "errors": [[t, kind]…]}} (Date.now() ms).
const { createHermesClient } = await import(new URL('../clients/js/hermes-client.js', import.meta.url).href);
const { url, runMs, clients } = JSON.parse(process.argv[2]);

const records = {};
const started = [];
for (const { name, options } of clients) {
  const record = { opens: [], closes: [], errors: [] };
  records[name] = record;
  const client = createHermesClient({
    url,
    getToken: () => name,
    backoff: { baseMs: 50, maxMs: 200 },
    onError: (error) => record.errors.push([Date.now(), error.kind]),
    ...options,
  });
  client.on('open', () => record.opens.push(Date.now()));
  client.on('close', (detail) => record.closes.push([Date.now(), detail.code ?? null, detail.reason ?? '']));
  started.push(client);
  client.connect();
}
await new Promise((resolve) => setTimeout(resolve, runMs));
for (const client of started) client.close();
process.stdout.write(JSON.stringify(records) + '\n');
process.exit(0);
