// Unit tests of hermes-client.js with a fake WebSocket and node's mock timers: `node --test clients/js/test/`
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import { backoffDelay, createHermesClient, HermesAuthError, Sources, States, withToken } from '../hermes-client.js';
import { envelope, FakeWebSocket, settle } from './fake-websocket.mjs';

const URL_ = 'wss://ws.example.com/prod';
const DEFAULT_KEEP_ALIVE = 9 * 60 * 1000;
const DEFAULT_PROBE = 60 * 60 * 1000;

/** A client on fake timers and a fake socket; getToken hands out tok-1, tok-2, … */
function setup(t, options = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const tokens = [];
  const errors = [];
  const states = [];
  const reconnects = [];
  const client = createHermesClient({
    url: URL_,
    getToken: async () => {
      const token = `tok-${tokens.length + 1}`;
      tokens.push(token);
      return token;
    },
    WebSocketImpl: FakeWebSocket,
    random: () => 0.5,
    backoff: { baseMs: 1000, maxMs: 8000, resetAfterMs: 10_000 },
    onError: (error) => errors.push(error),
    onStateChange: (state) => states.push(state),
    ...options,
  });
  client.on('reconnect', (detail) => reconnects.push(detail));
  return { client, tokens, errors, states, reconnects };
}

/** connect() and let the fake server accept: resolves with the open socket. */
async function connected(client) {
  const opened = client.connect();
  await settle();
  FakeWebSocket.last.serverOpen();
  assert.equal(await opened, true);
  return FakeWebSocket.last;
}

beforeEach(() => FakeWebSocket.reset());

describe('helpers', () => {
  test('backoffDelay is full jitter over an exponential ceiling capped at maxMs', () => {
    const opts = { baseMs: 100, maxMs: 1000 };
    assert.equal(backoffDelay(1, opts, () => 0), 0);
    assert.equal(backoffDelay(1, opts, () => 0.999), 99);
    assert.equal(backoffDelay(2, opts, () => 0.999), 199);
    assert.equal(backoffDelay(3, opts, () => 0.5), 200);
    assert.equal(backoffDelay(10, opts, () => 0.999), 999); // 100 * 2^9 capped at 1000
    assert.equal(backoffDelay(60, opts, () => 0.5), 500);
  });

  test('withToken sets (or replaces) the token query parameter, encoded', () => {
    assert.equal(withToken('wss://h/prod', 'a.b.c'), 'wss://h/prod?token=a.b.c');
    assert.equal(withToken('wss://h/prod?x=1&token=old', 'n+w/='), 'wss://h/prod?x=1&token=n%2Bw%2F%3D');
  });

  test('createHermesClient refuses missing url or getToken', () => {
    assert.throws(() => createHermesClient({ getToken: () => 't', WebSocketImpl: FakeWebSocket }), TypeError);
    assert.throws(() => createHermesClient({ url: URL_, WebSocketImpl: FakeWebSocket }), TypeError);
  });
});

describe('connecting', () => {
  test('connect() fetches a token, opens url?token=… and resolves true once open', async (t) => {
    const { client, tokens, states } = setup(t);
    assert.equal(client.state, States.IDLE);
    const opened = client.connect();
    assert.equal(client.state, States.CONNECTING);
    await settle();
    assert.deepEqual(tokens, ['tok-1']);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(FakeWebSocket.last.url, `${URL_}?token=tok-1`);
    FakeWebSocket.last.serverOpen();
    assert.equal(await opened, true);
    assert.equal(client.state, States.OPEN);
    assert.deepEqual(states, ['connecting', 'open']);
  });

  test('a connect timeout abandons the socket, ignores its late events and reconnects', async (t) => {
    const { client, errors, tokens } = setup(t, { connectTimeoutMs: 5000 });
    const seen = [];
    client.subscribe('*', (m) => seen.push(m.id));
    client.connect();
    await settle();
    const stuck = FakeWebSocket.last;
    t.mock.timers.tick(5000);
    assert.deepEqual(stuck.closedWith, { code: 4000, reason: 'connect timeout' });
    assert.equal(client.state, States.RECONNECTING);
    assert.ok(errors.some((e) => e.kind === 'timeout'));
    stuck.serverOpen(); // too late: the client has let go of it
    stuck.serverSend(envelope('late'));
    assert.deepEqual(seen, []);
    t.mock.timers.tick(500); // attempt 1: 0.5 * 1000
    await settle();
    assert.deepEqual(tokens, ['tok-1', 'tok-2']);
    assert.equal(FakeWebSocket.instances.length, 2);
  });
});

describe('reconnecting', () => {
  test('an unexpected close reconnects after the backoff delay with a fresh token', async (t) => {
    const { client, tokens, reconnects } = setup(t);
    const first = await connected(client);
    first.serverClose(1006);
    assert.equal(client.state, States.RECONNECTING);
    assert.deepEqual(reconnects, [{ attempt: 1, delayMs: 500 }]);
    t.mock.timers.tick(499);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 1, 'no new socket before the delay');
    t.mock.timers.tick(1);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.deepEqual(tokens, ['tok-1', 'tok-2']);
    assert.equal(FakeWebSocket.last.token, 'tok-2');
    FakeWebSocket.last.serverOpen();
    assert.equal(client.state, States.OPEN);
  });

  test('a server-initiated normal close (Management API DELETE, 1000) also reconnects', async (t) => {
    const { client, tokens } = setup(t);
    (await connected(client)).serverClose(1000, 'Normal closure');
    assert.equal(client.state, States.RECONNECTING);
    t.mock.timers.tick(500);
    await settle();
    assert.equal(FakeWebSocket.last.token, 'tok-2');
    assert.equal(tokens.length, 2);
  });

  test('failed attempts back off exponentially (full jitter), capped at maxMs', async (t) => {
    const { client, reconnects, tokens } = setup(t, { random: () => 0.999 });
    client.connect();
    for (let i = 0; i < 6; i += 1) {
      await settle();
      FakeWebSocket.last.serverClose(1006); // handshake refused: browsers only see 1006
      t.mock.timers.tick(reconnects.at(-1).delayMs);
    }
    assert.deepEqual(
      reconnects.map((r) => r.delayMs),
      [999, 1998, 3996, 7992, 7992, 7992],
    );
    await settle();
    assert.equal(new Set(tokens).size, 7, 'a new token for every attempt');
  });

  test('the attempt counter resets only after a connection stayed up for resetAfterMs', async (t) => {
    const { client, reconnects } = setup(t);
    (await connected(client)).serverClose(1006); // up for 0 ms
    t.mock.timers.tick(500);
    await settle();
    FakeWebSocket.last.serverOpen();
    t.mock.timers.tick(2000); // flapping: up 2 s
    FakeWebSocket.last.serverClose(1006);
    assert.deepEqual(reconnects.at(-1), { attempt: 2, delayMs: 1000 });
    t.mock.timers.tick(1000);
    await settle();
    FakeWebSocket.last.serverOpen();
    t.mock.timers.tick(10_000); // stable
    FakeWebSocket.last.serverClose(1001, 'Going away'); // e.g. the 2-hour limit
    assert.deepEqual(reconnects.at(-1), { attempt: 1, delayMs: 500 });
  });

  test('getToken failures are reported and retried with backoff', async (t) => {
    let calls = 0;
    const { client, errors, reconnects } = setup(t, {
      getToken: async () => {
        calls += 1;
        if (calls < 3) throw new Error('token service down');
        return 'good';
      },
    });
    const opened = client.connect();
    await settle();
    assert.equal(FakeWebSocket.instances.length, 0);
    assert.equal(errors[0].kind, 'token');
    assert.equal(errors[0].message, 'token service down');
    t.mock.timers.tick(reconnects[0].delayMs);
    await settle();
    t.mock.timers.tick(reconnects[1].delayMs);
    await settle();
    assert.equal(calls, 3);
    assert.equal(FakeWebSocket.last.token, 'good');
    FakeWebSocket.last.serverOpen();
    assert.equal(await opened, true);
  });

  test('maxRetries gives up: state closed and connect() resolves false', async (t) => {
    const { client, states } = setup(t, { maxRetries: 2 });
    const opened = client.connect();
    for (let i = 0; i < 3; i += 1) {
      await settle();
      FakeWebSocket.last.serverClose(1006);
      t.mock.timers.tick(10_000);
    }
    assert.equal(await opened, false);
    assert.equal(client.state, States.CLOSED);
    assert.equal(FakeWebSocket.instances.length, 3);
    assert.equal(states.at(-1), 'closed');
  });
});

describe('close()', () => {
  test('closes the socket and never reconnects', async (t) => {
    const { client, tokens } = setup(t);
    const socket = await connected(client);
    client.close();
    assert.deepEqual(socket.closedWith, { code: 1000, reason: 'client closed' });
    assert.equal(client.state, States.CLOSED);
    socket.serverClose(1000); // a late close event must not revive it
    t.mock.timers.tick(10 * 60 * 1000);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.deepEqual(tokens, ['tok-1']);
  });

  test('close() during a backoff wait cancels the pending attempt', async (t) => {
    const { client } = setup(t);
    (await connected(client)).serverClose(1006);
    client.close();
    t.mock.timers.tick(60_000);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 1);
  });

  test('close() while getToken is pending: no socket is opened; connect() resolves false', async (t) => {
    let release;
    const { client } = setup(t, { getToken: () => new Promise((resolve) => (release = resolve)) });
    const opened = client.connect();
    client.close();
    release('late-token');
    await settle();
    assert.equal(FakeWebSocket.instances.length, 0);
    assert.equal(await opened, false);
  });

  test('connect() after close() starts again with a fresh token', async (t) => {
    const { client, tokens } = setup(t);
    await connected(client);
    client.close();
    await connected(client);
    assert.deepEqual(tokens, ['tok-1', 'tok-2']);
    assert.equal(client.state, States.OPEN);
  });
});

describe('receiving', () => {
  test('typed subscribers, "*" and unsubscribe', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const jobs = [];
    const all = [];
    const off = client.subscribe('job.finished', (m) => jobs.push(m.data));
    client.subscribe('*', (m) => all.push(m.type));
    socket.serverSend(envelope('1', 'job.finished', 'a'));
    socket.serverSend(envelope('2', 'chat', 'b'));
    off();
    off(); // idempotent
    socket.serverSend(envelope('3', 'job.finished', 'c'));
    assert.deepEqual(jobs, ['a']);
    assert.deepEqual(all, ['job.finished', 'chat', 'job.finished']);
  });

  test('the same callback subscribed twice is called twice and unsubscribed one at a time', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    let count = 0;
    const callback = () => (count += 1);
    const offA = client.subscribe('x', callback);
    client.subscribe('x', callback);
    socket.serverSend(envelope('1', 'x'));
    offA();
    socket.serverSend(envelope('2', 'x'));
    assert.equal(count, 3);
  });

  test('unsubscribing from inside a callback is safe', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const calls = [];
    const offFirst = client.subscribe('x', () => {
      calls.push('first');
      offFirst();
    });
    client.subscribe('x', () => calls.push('second'));
    socket.serverSend(envelope('1', 'x'));
    socket.serverSend(envelope('2', 'x'));
    assert.deepEqual(calls, ['first', 'second', 'second']);
  });

  test('a repeated id is delivered once, also across reconnects; memory is bounded', async (t) => {
    const { client } = setup(t, { dedupSize: 3 });
    const ids = [];
    const duplicates = [];
    client.subscribe('*', (m) => ids.push(m.id));
    client.on('duplicate', (m) => duplicates.push(m.id));
    let socket = await connected(client);
    socket.serverSend(envelope('a'));
    socket.serverSend(envelope('a'));
    socket.serverClose(1006);
    t.mock.timers.tick(500);
    await settle();
    socket = FakeWebSocket.last;
    socket.serverOpen();
    socket.serverSend(envelope('a')); // SQS redelivery after the reconnect
    socket.serverSend(envelope('b'));
    socket.serverSend(envelope('c'));
    socket.serverSend(envelope('d')); // 'a' is now the oldest of 4 and is forgotten
    socket.serverSend(envelope('d'));
    socket.serverSend(envelope('a'));
    assert.deepEqual(ids, ['a', 'b', 'c', 'd', 'a']);
    assert.deepEqual(duplicates, ['a', 'a', 'd']);
  });

  test('messages without an id are delivered every time', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    let count = 0;
    client.subscribe('x', () => (count += 1));
    socket.serverSend({ type: 'x', data: 1 });
    socket.serverSend({ type: 'x', data: 1 });
    assert.equal(count, 2);
  });

  test('error messages never quote what a frame held (an app may render them as HTML)', async (t) => {
    const { client, errors } = setup(t);
    const socket = await connected(client);
    const html = '<img src=x onerror=alert(1)>';
    socket.serverSendRaw(`${html}{`);
    socket.serverSendRaw(`["${html}"]`);
    socket.serverSendRaw(JSON.stringify({ id: html }));
    socket.serverSend({ type: `hermes.${html}`, source: 'client', data: 1 });
    socket.serverSend({ type: 'hermes.replay', messages: [{ type: `hermes.${html}`, id: 'm' }] });
    assert.equal(errors.length, 5);
    for (const error of errors) assert.ok(!error.message.includes('<img'), error.message);
  });

  test('malformed frames and gateway error frames never throw and never reach subscribers', async (t) => {
    const { client, errors } = setup(t);
    const socket = await connected(client);
    const all = [];
    client.subscribe('*', (m) => all.push(m.id));
    assert.doesNotThrow(() => {
      socket.serverSendRaw('not json{');
      socket.serverSendRaw('[1,2]');
      socket.serverSendRaw('null');
      socket.serverSendRaw('"text"');
      socket.serverSendRaw('{"id":"no-type"}');
      socket.serverSendRaw(new ArrayBuffer(4));
      socket.serverSend({ message: 'Forbidden', connectionId: 'c1', requestId: 'r1' });
    });
    socket.serverSend(envelope('ok'));
    assert.deepEqual(all, ['ok']);
    assert.deepEqual(
      errors.map((e) => e.kind),
      ['malformed', 'malformed', 'malformed', 'malformed', 'malformed', 'malformed', 'gateway'],
    );
    assert.equal(errors.at(-1).message, 'Forbidden');
    assert.equal(client.state, States.OPEN);
  });

  test('a throwing subscriber is reported and does not stop the others', async (t) => {
    const { client, errors } = setup(t);
    const socket = await connected(client);
    const seen = [];
    client.subscribe('x', () => {
      throw new Error('app bug');
    });
    client.subscribe('x', (m) => seen.push(m.id));
    assert.doesNotThrow(() => socket.serverSend(envelope('1', 'x')));
    assert.deepEqual(seen, ['1']);
    assert.deepEqual(
      errors.map((e) => [e.kind, e.message]),
      [['callback', 'app bug']],
    );
  });

  test('pong frames are not delivered to subscribers', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const all = [];
    let pongs = 0;
    client.subscribe('*', (m) => all.push(m));
    client.subscribe('pong', (m) => all.push(m));
    client.on('pong', () => (pongs += 1));
    socket.serverSend({ type: 'pong' });
    assert.deepEqual(all, []);
    assert.equal(pongs, 1);
  });
});

describe("the server's answers to sendMessage", () => {
  test('sent and refused answers become events and errors, never notifications', async (t) => {
    const { client, errors } = setup(t);
    const socket = await connected(client);
    const all = [];
    const sent = [];
    const refused = [];
    client.subscribe('*', (m) => all.push(m));
    client.on('sent', (m) => sent.push(m.message_id));
    client.on('refused', (m) => refused.push(m.status));
    socket.serverSend({ type: 'hermes.sent', status: 200, message_id: 'm-1', delivered: 2, gone: 0, failed: 0 });
    socket.serverSend({ type: 'hermes.refused', status: 413, error: 'message is 140000 bytes' });
    // the sender's own copy has the id the answer named: it is not taken for a duplicate
    socket.serverSend(envelope('m-1', 'chat'));
    assert.deepEqual(sent, ['m-1']);
    assert.deepEqual(refused, [413]);
    assert.deepEqual(
      errors.map((e) => [e.kind, e.message]),
      [['refused', 'sendMessage refused (413): message is 140000 bytes']],
    );
    assert.deepEqual(
      all.map((m) => m.id),
      ['m-1'],
    );
  });
});

describe('where a message came from (source)', () => {
  const from = (id, source, type = 'x') => ({ ...envelope(id, type), source });

  test('every notification carries source: backend, client, or unknown (missing or unrecognized)', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const got = [];
    const events = [];
    client.subscribe('*', (m) => got.push([m.id, m.source]));
    client.on('message', (m) => events.push(m.source));
    socket.serverSend(from('b', 'backend'));
    socket.serverSend(from('c', 'client'));
    socket.serverSend(envelope('missing', 'x')); // a server from before `source`
    socket.serverSend(from('other', 'admin'));
    socket.serverSend(from('num', 1));
    socket.serverSend(from('obj', { backend: true }));
    assert.deepEqual(got, [
      ['b', 'backend'],
      ['c', 'client'],
      ['missing', 'unknown'],
      ['other', 'unknown'],
      ['num', 'unknown'],
      ['obj', 'unknown'],
    ]);
    assert.deepEqual(events, ['backend', 'client', 'unknown', 'unknown', 'unknown', 'unknown']);
    assert.deepEqual(Sources, { BACKEND: 'backend', CLIENT: 'client', UNKNOWN: 'unknown' });
  });

  test("subscribe(type, cb, { source: 'backend' }) gets backend messages only; unknown never counts", async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const backendJobs = [];
    const backendAll = [];
    const clientAll = [];
    const anyAll = [];
    client.subscribe('job.finished', (m) => backendJobs.push(m.id), { source: 'backend' });
    client.subscribe('*', (m) => backendAll.push(m.id), { source: Sources.BACKEND });
    client.subscribe('*', (m) => clientAll.push(m.id), { source: 'client' });
    client.subscribe('*', (m) => anyAll.push(m.id), { source: 'any' });
    socket.serverSend(from('b1', 'backend', 'job.finished'));
    socket.serverSend(from('c1', 'client', 'job.finished')); // a client imitating a backend notification
    socket.serverSend(envelope('none', 'job.finished'));
    socket.serverSend(from('odd', 'Backend', 'job.finished'));
    socket.serverSend(from('b2', 'backend', 'chat'));
    assert.deepEqual(backendJobs, ['b1']);
    assert.deepEqual(backendAll, ['b1', 'b2']);
    assert.deepEqual(clientAll, ['c1']);
    assert.deepEqual(anyAll, ['b1', 'c1', 'none', 'odd', 'b2']);
  });

  test('a source filter that is not one of the known values throws instead of matching everything', async (t) => {
    const { client } = setup(t);
    for (const source of ['backed', 'BACKEND', '', null, 1]) {
      assert.throws(() => client.subscribe('*', () => {}, { source }), TypeError, String(source));
    }
  });

  test('a subscriber that rewrites message.source cannot get a client message past a backend filter', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const backendOnly = [];
    client.subscribe('x', (m) => (m.source = 'backend')); // runs first: typed subscribers before '*'
    client.subscribe('*', (m) => backendOnly.push(m.id), { source: 'backend' });
    socket.serverSend(from('c1', 'client'));
    assert.deepEqual(backendOnly, []);
  });

  test('a client message reusing a backend id cannot suppress the backend message', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const backend = [];
    const duplicates = [];
    client.subscribe('*', (m) => backend.push(m.data), { source: 'backend' });
    client.on('duplicate', (m) => duplicates.push([m.id, m.source]));
    socket.serverSend({ ...from('job-7', 'client'), data: 'fake' });
    socket.serverSend({ ...from('job-7', 'backend'), data: 'real' });
    socket.serverSend({ ...from('job-7', 'backend'), data: 'real' }); // SQS redelivery: still dropped
    assert.deepEqual(backend, ['real']);
    assert.deepEqual(duplicates, [['job-7', 'backend']]);
  });

  test("a client's message never acts as a pong or as an answer to sendMessage", async (t) => {
    const { client, errors } = setup(t, { keepAliveMs: 60_000, probeAfterMs: 0, pongTimeoutMs: 10_000 });
    const socket = await connected(client);
    const all = [];
    const answers = [];
    client.subscribe('*', (m) => all.push(m));
    client.on('sent', (m) => answers.push(['sent', m]));
    client.on('refused', (m) => answers.push(['refused', m]));
    client.on('pong', () => answers.push(['pong']));
    t.mock.timers.tick(60_000); // ping sent; a pong is now awaited
    socket.serverSend({ type: 'hermes.sent', source: 'client', status: 200, message_id: 'm', delivered: 1 });
    socket.serverSend({ type: 'hermes.refused', source: 'client', status: 400, error: 'fake' });
    socket.serverSend({ type: 'pong', source: 'client' });
    assert.deepEqual(answers, []);
    assert.deepEqual(all, []);
    assert.deepEqual(
      errors.map((e) => e.kind),
      ['malformed', 'malformed', 'malformed'],
    );
    t.mock.timers.tick(10_000); // the fake pong did not count: the connection is replaced
    assert.deepEqual(socket.closedWith, { code: 4000, reason: 'no pong' });
  });
});

describe('a gateway error frame answering sendMessage', () => {
  test("Forbidden (no sendMessage route: client messages are off) is a 'refused' event with status 403", async (t) => {
    const { client, errors } = setup(t);
    const socket = await connected(client);
    const refused = [];
    const all = [];
    client.on('refused', (m) => refused.push(m));
    client.subscribe('*', (m) => all.push(m));
    client.sendMessage({ text: 'hi' });
    socket.serverSend({ message: 'Forbidden', connectionId: 'c1', requestId: 'r1' });
    assert.deepEqual(refused, [
      { type: 'hermes.refused', status: 403, error: 'Forbidden', gateway: true, connectionId: 'c1', requestId: 'r1' },
    ]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].kind, 'refused');
    assert.equal(errors[0].message, 'sendMessage refused (403): Forbidden (does this stage accept client messages?)');
    assert.deepEqual(all, []);
    assert.equal(client.state, States.OPEN);
  });

  test('each send takes one answer: a later error frame with nothing awaiting is a gateway error', async (t) => {
    const { client, errors } = setup(t);
    const socket = await connected(client);
    const refused = [];
    client.on('refused', (m) => refused.push(m.status));
    client.sendMessage('a');
    client.sendMessage('b');
    socket.serverSend({ type: 'hermes.sent', status: 200, message_id: 'm-a', delivered: 1, gone: 0, failed: 0 });
    socket.serverSend({ message: 'Internal server error', connectionId: 'c1', requestId: 'r2' });
    socket.serverSend({ message: 'Forbidden', connectionId: 'c1', requestId: 'r3' });
    assert.deepEqual(refused, [502]);
    assert.deepEqual(
      errors.map((e) => e.kind),
      ['refused', 'gateway'],
    );
  });

  test('a message queued while reconnecting awaits its answer once flushed; a new socket starts afresh', async (t) => {
    const { client } = setup(t);
    const refused = [];
    client.on('refused', (m) => refused.push(m.requestId));
    const first = await connected(client);
    client.sendMessage('lost with the connection'); // never answered
    first.serverClose(1006);
    client.sendMessage('queued');
    t.mock.timers.tick(500);
    await settle();
    const second = FakeWebSocket.last;
    second.serverOpen();
    assert.deepEqual(
      second.appSent.map((m) => m.data),
      ['queued'],
    );
    second.serverSend({ message: 'Forbidden', connectionId: 'c2', requestId: 'r-queued' });
    second.serverSend({ message: 'Forbidden', connectionId: 'c2', requestId: 'r-other' }); // nothing left awaiting
    assert.deepEqual(refused, ['r-queued']);
  });
});

describe('getToken: signed out (HermesAuthError)', () => {
  test('stops reconnecting: state closed (reason unauthorized), an unauthorized event, queue dropped', async (t) => {
    let signedIn = true;
    let calls = 0;
    const details = [];
    const { client, errors } = setup(t, {
      getToken: async () => {
        calls += 1;
        if (!signedIn) throw new HermesAuthError('logged out');
        return `tok-${calls}`;
      },
      onStateChange: (state, detail) => details.push([state, detail.reason]),
    });
    const unauthorized = [];
    client.on('unauthorized', (detail) => unauthorized.push(detail.message));
    const socket = await connected(client);
    signedIn = false;
    socket.serverClose(1006);
    assert.equal(client.sendMessage('written by the old user'), false); // queued while reconnecting
    const reconnected = client.connect();
    t.mock.timers.tick(500);
    await settle();
    assert.equal(calls, 2);
    assert.equal(client.state, States.CLOSED);
    assert.deepEqual(details.at(-1), ['closed', 'unauthorized']);
    assert.deepEqual(unauthorized, ['logged out']);
    assert.deepEqual(
      errors.map((e) => [e.kind, e.message]),
      [['auth', 'logged out']],
    );
    assert.equal(await reconnected, false);
    t.mock.timers.tick(60 * 60 * 1000); // an hour later: still no retry
    await settle();
    assert.equal(calls, 2);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.deepEqual(
      details.map(([state]) => state),
      ['connecting', 'open', 'reconnecting', 'closed'],
    );

    signedIn = true; // a new login: connect() starts again, without the old user's queued message
    const socketAfterLogin = await connected(client);
    assert.equal(calls, 3);
    assert.deepEqual(socketAfterLogin.appSent, []);
  });

  test('the marker is the error name: an error built elsewhere (another copy of the module) works too', async (t) => {
    let calls = 0;
    const { client } = setup(t, {
      getToken: () => {
        calls += 1;
        throw Object.assign(new Error('session expired'), { name: 'HermesAuthError' }); // thrown synchronously
      },
    });
    const opened = client.connect();
    await settle();
    t.mock.timers.tick(60_000);
    await settle();
    assert.equal(calls, 1);
    assert.equal(client.state, States.CLOSED);
    assert.equal(FakeWebSocket.instances.length, 0);
    assert.equal(await Promise.race([opened, settle().then(() => 'still pending')]), false);
  });

  test('other getToken errors (and other names) are still retried', async (t) => {
    let calls = 0;
    const { client, errors } = setup(t, {
      getToken: async () => {
        calls += 1;
        throw Object.assign(new Error('503'), { name: 'HttpError' });
      },
    });
    client.connect();
    await settle();
    t.mock.timers.tick(60_000);
    await settle();
    assert.ok(calls >= 2, `getToken called ${calls} times`);
    assert.equal(client.state, States.RECONNECTING);
    assert.ok(errors.every((e) => e.kind === 'token'));
  });
});

describe('keep-alive', () => {
  const pings = (socket) => socket.sentJson.filter((m) => m.action === 'ping').length;
  const keepAlives = (socket) => socket.sentJson.filter((m) => m.action === 'keepalive').length;
  const HOUR = 60 * 60 * 1000;

  test('a one-way keepalive every keepAliveMs of silence, under the idle timeout; no pong awaited', async (t) => {
    const { client } = setup(t, { keepAliveMs: 60_000, pongTimeoutMs: 10_000 });
    const socket = await connected(client);
    t.mock.timers.tick(59_999);
    assert.equal(keepAlives(socket), 0);
    t.mock.timers.tick(1);
    assert.deepEqual(socket.appSent, [{ action: 'keepalive' }]);
    t.mock.timers.tick(60_000); // no answer comes, none is awaited: the socket stays
    assert.equal(keepAlives(socket), 2);
    assert.equal(socket.closedWith, null);
    assert.equal(client.state, States.OPEN);
  });

  test('the defaults: 9 minutes, a ping only when nothing arrived for an hour: 7 billed messages an idle hour', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    let pongs = 0;
    const answerPings = () => {
      while (pings(socket) > pongs) {
        pongs += 1;
        socket.serverSend({ type: 'pong' });
      }
    };
    t.mock.timers.tick(9 * 60 * 1000 - 1);
    assert.equal(keepAlives(socket), 0);
    t.mock.timers.tick(1);
    assert.equal(keepAlives(socket), 1);
    for (let minute = 10; minute <= 120; minute += 1) {
      t.mock.timers.tick(60 * 1000);
      answerPings();
    }
    // API Gateway closes every connection at 2 hours: 13 keep-alives by then, the 7th (63 min) a ping
    assert.equal(keepAlives(socket) + pings(socket), 13);
    assert.equal(pings(socket), 1);
    assert.equal(socket.appSent.findIndex((m) => m.action === 'ping'), 6);
    const billed = keepAlives(socket) + 2 * pings(socket); // a ping and its pong: 2 messages
    assert.equal(billed, 14);
    assert.ok(billed / 2 <= 8, `${billed / 2} billed messages per idle hour`);
  });

  test('frames from the server postpone the ping (they show the socket is alive), not the keep-alive', async (t) => {
    const { client } = setup(t, { keepAliveMs: 60_000, probeAfterMs: 5 * 60_000 });
    const socket = await connected(client);
    for (let i = 0; i < 10; i += 1) {
      t.mock.timers.tick(60_000);
      socket.serverSend(envelope(`n-${i}`)); // a notification a minute
    }
    assert.equal(keepAlives(socket), 10);
    assert.equal(pings(socket), 0);
    t.mock.timers.tick(5 * 60_000); // then silence: 5 minutes later the keep-alive is a ping
    assert.equal(pings(socket), 1);
  });

  test('sending a message postpones the next keep-alive', async (t) => {
    const { client } = setup(t, { keepAliveMs: 60_000 });
    const socket = await connected(client);
    t.mock.timers.tick(50_000);
    client.sendMessage('hi');
    t.mock.timers.tick(50_000);
    assert.equal(keepAlives(socket), 0);
    t.mock.timers.tick(10_000);
    assert.equal(keepAlives(socket), 1);
  });

  test('no pong in time: the connection is treated as dead and replaced', async (t) => {
    const { client, errors, tokens } = setup(t, { keepAliveMs: 60_000, probeAfterMs: 0, pongTimeoutMs: 10_000 });
    const socket = await connected(client);
    t.mock.timers.tick(60_000);
    assert.equal(pings(socket), 1, 'probeAfterMs: 0 makes every keep-alive a ping');
    t.mock.timers.tick(9_999);
    assert.equal(socket.closedWith, null);
    t.mock.timers.tick(1);
    assert.deepEqual(socket.closedWith, { code: 4000, reason: 'no pong' });
    assert.equal(client.state, States.RECONNECTING);
    assert.ok(errors.some((e) => e.kind === 'timeout'));
    t.mock.timers.tick(500);
    await settle();
    assert.deepEqual(tokens, ['tok-1', 'tok-2']);
  });

  test('a dead socket is noticed within probeAfterMs + keepAliveMs + pongTimeoutMs by keep-alives alone', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client); // then nothing answers: a half-open TCP connection
    const bound = DEFAULT_PROBE + DEFAULT_KEEP_ALIVE + 30_000;
    let noticed = null;
    client.on('close', () => (noticed ??= Date.now() - 1_000_000));
    for (let elapsed = 0; elapsed < bound && noticed === null; elapsed += 10_000) t.mock.timers.tick(10_000);
    assert.ok(noticed !== null && noticed <= bound, `noticed after ${noticed} ms`);
    assert.deepEqual(socket.closedWith, { code: 4000, reason: 'no pong' });
  });

  test('an older stage without the keepalive route answers Forbidden: the client keeps alive with pings', async (t) => {
    const { client, errors } = setup(t, { keepAliveMs: 60_000 });
    const socket = await connected(client);
    t.mock.timers.tick(60_000);
    socket.serverSend({ message: 'Forbidden', connectionId: 'c', requestId: 'r' });
    t.mock.timers.tick(60_000);
    assert.deepEqual(
      socket.appSent.map((m) => m.action),
      ['keepalive', 'ping'],
    );
    assert.deepEqual(errors, []);
  });

  test('ping() by hand sends one ping and reschedules the automatic keep-alive', async (t) => {
    const { client } = setup(t, { keepAliveMs: 60_000 });
    assert.equal(client.ping(), false, 'not connected yet');
    const socket = await connected(client);
    t.mock.timers.tick(30_000);
    assert.equal(client.ping(), true);
    socket.serverSend({ type: 'pong' });
    assert.equal(pings(socket), 1);
    t.mock.timers.tick(59_999); // the timer armed at connect (due at 60 s) must be gone
    assert.equal(keepAlives(socket), 0);
    t.mock.timers.tick(1);
    assert.equal(keepAlives(socket), 1);
  });

  test('keepAliveMs: 0 disables keep-alives', async (t) => {
    const off = setup(t, { keepAliveMs: 0 });
    const socket = await connected(off.client);
    t.mock.timers.tick(3 * HOUR);
    assert.equal(pings(socket) + keepAlives(socket), 0);
    off.client.close();
  });

  test('no keep-alives after close()', async (t) => {
    const { client } = setup(t, { keepAliveMs: 1000 });
    const socket = await connected(client);
    client.close();
    socket.readyState = FakeWebSocket.OPEN; // even if the socket were somehow still writable
    t.mock.timers.tick(10_000);
    assert.equal(pings(socket) + keepAlives(socket), 0);
  });
});

describe('sendMessage', () => {
  test('sends {action, data, type, exclude_self}', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    assert.equal(client.sendMessage({ text: 'hi' }), true);
    assert.equal(client.sendMessage(1, { type: 'chat', excludeSelf: true }), true);
    assert.deepEqual(socket.appSent, [
      { action: 'sendMessage', data: { text: 'hi' } },
      { action: 'sendMessage', data: 1, type: 'chat', exclude_self: true },
    ]);
  });

  test('while reconnecting, messages are queued (bounded) and flushed in order on open', async (t) => {
    const { client, errors } = setup(t, { maxQueued: 2 });
    (await connected(client)).serverClose(1006);
    assert.equal(client.sendMessage('m1'), false);
    assert.equal(client.sendMessage('m2'), false);
    assert.equal(client.sendMessage('m3'), false); // m1 is dropped
    assert.equal(errors.at(-1).kind, 'send');
    t.mock.timers.tick(500);
    await settle();
    FakeWebSocket.last.serverOpen();
    assert.deepEqual(
      FakeWebSocket.last.appSent.map((m) => m.data),
      ['m2', 'm3'],
    );
  });

  test('over 32 KB throws RangeError (API Gateway would close the connection with 1009)', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    assert.throws(() => client.sendMessage('é'.repeat(17 * 1024)), RangeError); // 34 KB in UTF-8
    assert.throws(() => client.sendMessage(undefined), TypeError);
    assert.equal(socket.appSent.length, 0);
    assert.equal(client.sendMessage('x'.repeat(30 * 1024)), true);
  });

  test('after close() messages are dropped and reported', async (t) => {
    const { client, errors } = setup(t);
    await connected(client);
    client.close();
    assert.equal(client.sendMessage('late'), false);
    assert.equal(errors.at(-1).kind, 'send');
    await connected(client);
    assert.deepEqual(FakeWebSocket.last.appSent, []);
  });
});

describe('presence events (the module input presence_events_enabled)', () => {
  const presence = (id, type, user, source = 'hermes') => ({
    ...envelope(id, type, { user_id: user }),
    source,
    user_id: user,
  });

  test("hermes.join / hermes.leave become 'presence' events, never notifications", async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const events = [];
    const notifications = [];
    client.on('presence', (detail) => events.push(detail));
    client.on('message', (m) => notifications.push(m.type));
    client.subscribe('*', (m) => notifications.push(m.type));
    client.subscribe('hermes.join', (m) => notifications.push(m.type));
    socket.serverSend(presence('j1', 'hermes.join', 'alice'));
    socket.serverSend(envelope('n1'));
    socket.serverSend(presence('l1', 'hermes.leave', 'alice'));
    assert.deepEqual(
      events.map((e) => [e.type, e.userId, e.roomId, e.id]),
      [
        ['join', 'alice', 'room-1', 'j1'],
        ['leave', 'alice', 'room-1', 'l1'],
      ],
    );
    assert.equal(events[0].sentAt, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(notifications, ['job.finished', 'job.finished']);
  });

  test('a repeated event (same id: a 410 clean-up and a late $disconnect) is reported once', async (t) => {
    const { client } = setup(t);
    const socket = await connected(client);
    const events = [];
    const duplicates = [];
    client.on('presence', (detail) => events.push(detail.id));
    client.on('duplicate', (m) => duplicates.push(m.id));
    socket.serverSend(presence('l1', 'hermes.leave', 'bob'));
    socket.serverSend(presence('l1', 'hermes.leave', 'bob'));
    assert.deepEqual(events, ['l1']);
    assert.deepEqual(duplicates, ['l1']);
  });

  test('only Hermes can announce a user: a client frame with the type is dropped', async (t) => {
    const { client, errors } = setup(t);
    const socket = await connected(client);
    const events = [];
    client.on('presence', (detail) => events.push(detail));
    socket.serverSend(presence('x1', 'hermes.join', 'mallory', 'client'));
    socket.serverSend(presence('x2', 'hermes.join', 'mallory', 'backend')); // not Hermes' own: no event
    socket.serverSend({ ...presence('x3', 'hermes.join', 'mallory'), data: 'no user' });
    assert.deepEqual(events, []);
    assert.equal(errors.filter((e) => e.kind === 'malformed').length, 1);
  });
});
