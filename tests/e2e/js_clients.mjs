// Many clients/js/hermes-client.js clients in one Node process, driven by the e2e tests over stdin/stdout
// (one JSON object per line each way): `node --experimental-websocket tests/e2e/js_clients.mjs <token URL>`
// (Node 22+ has WebSocket without the flag).
//
// Requests {"id", "cmd", ...}; every request gets one answer {"id", ...}:
//   add {name, user, room, store?}   create a client (token from <token URL>?user=&room=) and connect it;
//                                    `store` names an in-memory positions store (survives `reload`)
//   close {name}                     client.close(): the page is closed (positions stay in its store)
//   connect {name}                   connect() the same client object again
//   reload {name}                    a new client object for the same user, room and store (a page reload)
//   status {}                        per client: state, synced (first resume answered), positions, counts
//   report {}                        per client: everything it recorded (deliveries, recoveries, opens, ...)
//   exit {}
// Times are Date.now() milliseconds.
import { createInterface } from 'node:readline';

const modulePath = process.env.HERMES_JS_CLIENT || new URL('../../clients/js/hermes-client.js', import.meta.url).href;
const { createHermesClient } = await import(modulePath);
const tokenUrl = process.argv[2];
if (!tokenUrl || typeof WebSocket !== 'function') {
  console.error('usage: node --experimental-websocket js_clients.mjs <token URL> (needs a global WebSocket)');
  process.exit(2);
}

/** @type {Map<string, object>} name → {client, user, room, store, record} */
const clients = new Map();
/** @type {Map<string, {state: object | null}>} */
const stores = new Map();

function newRecord() {
  return {
    delivered: [], // [stream|null, epoch|null, position|null, id, t]
    recoveries: [], // {t, stream, complete, replayed, epoch, position, reason?}
    opens: [],
    closes: [], // [t, code]
    errors: [], // [t, kind, message]
    duplicates: 0,
    tokens: 0,
    synced: false,
    clients: 0, // client objects created for this name (1 + reloads)
    // what came over the wire, before the client sorted it: live envelopes behind a later live position of
    // their stream on the same socket (reordered on the way), and envelopes in hermes.replay frames
    wire: { liveOutOfOrder: 0, replayed: 0 },
  };
}

/** The runtime's WebSocket, counting what arrives before the client sees it. */
function countingWebSocket(record) {
  return class extends WebSocket {
    highest = new Map(); // stream → highest live position on this socket

    set onmessage(handler) {
      super.onmessage = handler && ((event) => (this.count(event.data), handler(event)));
    }

    get onmessage() {
      return super.onmessage;
    }

    count(data) {
      let frame;
      try {
        frame = JSON.parse(data);
      } catch {
        return;
      }
      if (frame?.type === 'hermes.replay') {
        record.wire.replayed += Array.isArray(frame.messages) ? frame.messages.length : 0;
      } else if (typeof frame?.position === 'number') {
        const highest = this.highest.get(frame.stream) ?? 0;
        if (frame.position < highest) record.wire.liveOutOfOrder += 1;
        else this.highest.set(frame.stream, frame.position);
      }
    }
  };
}

function start(name, entry) {
  const { user, room, record } = entry;
  const store = entry.store ? stores.get(entry.store) : null;
  const client = createHermesClient({
    url: entry.url,
    getToken: async () => {
      const response = await fetch(`${tokenUrl}?user=${encodeURIComponent(user)}&room=${encodeURIComponent(room)}`);
      if (!response.ok) throw new Error(`token: ${response.status}`);
      record.tokens += 1;
      return response.text();
    },
    backoff: { baseMs: 500, maxMs: 4000, resetAfterMs: 10_000 },
    connectTimeoutMs: 60_000, // a loaded CI machine runs the authorizer and $connect in local processes
    keepAliveMs: 0,
    WebSocketImpl: countingWebSocket(record),
    ...(store
      ? {
          positions: {
            load: () => (store.state ? structuredClone(store.state) : null),
            save: (state) => {
              store.state = structuredClone(state);
            },
          },
        }
      : {}),
  });
  record.clients += 1;
  client.subscribe('*', (m) => {
    record.delivered.push([m.stream ?? null, m.epoch ?? null, m.position ?? null, m.id, Date.now()]);
  });
  client.on('duplicate', () => (record.duplicates += 1));
  client.on('recovery', (detail) => {
    record.recoveries.push({ t: Date.now(), ...detail });
    record.synced = true;
  });
  client.on('open', () => {
    record.opens.push(Date.now());
    if (typeof client.positions !== 'function') record.synced = true; // a client from before resume
  });
  client.on('close', (detail) => record.closes.push([Date.now(), detail.code ?? null]));
  client.on('error', (error) => record.errors.push([Date.now(), error.kind, error.message]));
  entry.client = client;
  client.connect();
}

/** A client from before resume has no positions(): the last position it delivered per stream instead. */
function lastDelivered(record) {
  const out = {};
  for (const [stream, epoch, position] of record.delivered) {
    if (stream && position > (out[stream]?.position ?? 0)) out[stream] = { epoch, position };
  }
  return out;
}

const handlers = {
  add({ name, user, room, url, store }) {
    if (clients.has(name)) throw new Error(`${name} exists`);
    if (store && !stores.has(store)) stores.set(store, { state: null });
    const entry = { user, room, url, store, record: newRecord(), client: null };
    clients.set(name, entry);
    start(name, entry);
    return {};
  },
  close({ name }) {
    clients.get(name).client.close();
    return {};
  },
  connect({ name }) {
    clients.get(name).client.connect();
    return {};
  },
  reload({ name }) {
    const entry = clients.get(name);
    entry.client.close();
    start(name, entry);
    return {};
  },
  status() {
    const out = {};
    for (const [name, { client, record }] of clients) {
      out[name] = {
        state: client.state,
        synced: record.synced,
        positions: typeof client.positions === 'function' ? client.positions() : lastDelivered(record),
        delivered: record.delivered.length,
        opens: record.opens.length,
      };
    }
    return { clients: out };
  },
  report() {
    const out = {};
    for (const [name, { record }] of clients) out[name] = record;
    return { clients: out };
  },
  exit() {
    for (const { client } of clients.values()) client.close();
    setTimeout(() => process.exit(0), 200);
    return {};
  },
};

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let request;
  try {
    request = JSON.parse(line);
    const answer = handlers[request.cmd](request);
    process.stdout.write(`${JSON.stringify({ id: request.id, ok: true, ...answer })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ id: request?.id ?? null, ok: false, error: String(err) })}\n`);
  }
});
lines.on('close', () => process.exit(0)); // the test ended (or died): so do the clients
