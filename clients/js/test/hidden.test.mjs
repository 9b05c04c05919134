// Hidden pages let go: a page hidden longer than hiddenGraceMs closes its socket ('paused') and reconnects and
// resumes when it is visible again; and the visibility/network events that check a socket is still alive.
// `node --test clients/js/test/`
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import { createHermesClient, States } from '../hermes-client.js';
import { FakeWebSocket, settle } from './fake-websocket.mjs';

const MINUTE = 60 * 1000;

/** A page's visibility the test controls (what `document.visibilityState` + 'visibilitychange' give a page). */
class FakeVisibility {
  constructor(hidden = false) {
    this.isHidden = hidden;
    this.listeners = new Set();
  }

  hidden() {
    return this.isHidden;
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(hidden) {
    this.isHidden = hidden;
    for (const listener of [...this.listeners]) listener();
  }
}

function setup(t, options = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const visibility = new FakeVisibility();
  const states = [];
  const closes = [];
  const client = createHermesClient({
    url: 'wss://ws.example.com/prod',
    getToken: async () => 'tok',
    WebSocketImpl: FakeWebSocket,
    random: () => 0.5,
    visibility,
    onStateChange: (state, detail) => states.push([state, detail.reason]),
    ...options,
  });
  client.on('close', (detail) => closes.push(detail));
  return { client, visibility, states, closes };
}

async function opened(client) {
  const promise = client.connect();
  await settle();
  FakeWebSocket.last.serverOpen();
  assert.equal(await promise, true);
  return FakeWebSocket.last;
}

beforeEach(() => FakeWebSocket.reset());

describe('a hidden page lets go of its socket', () => {
  test('hidden past the grace: socket closed (1000 hidden), paused; visible: a new socket that resumes', async (t) => {
    const { client, visibility, states, closes } = setup(t, { hiddenGraceMs: 20 * MINUTE });
    const heads = { 'room#r': { epoch: 'e', position: 0, complete: true, replayed: 0 } };
    FakeWebSocket.answerResume = () => [{ type: 'hermes.recovery', status: 200, streams: heads }];
    const first = await opened(client);
    first.serverSend({ id: 'a', type: 't', stream: 'room#r', epoch: 'e', position: 1, room_id: 'r', data: 1 });
    visibility.set(true);
    t.mock.timers.tick(20 * MINUTE - 1);
    assert.equal(first.closedWith, null);
    t.mock.timers.tick(1);
    assert.deepEqual(first.closedWith, { code: 1000, reason: 'hidden' });
    assert.equal(client.state, States.PAUSED);
    assert.deepEqual(closes.at(-1), { code: 1000, reason: 'hidden', wasOpen: true, byClient: true });
    t.mock.timers.tick(5 * 60 * MINUTE); // hidden for hours: no reconnect, no keep-alive, nothing
    assert.equal(FakeWebSocket.instances.length, 1);

    visibility.set(false);
    await settle();
    const second = FakeWebSocket.last;
    assert.notEqual(second, first);
    second.serverOpen();
    assert.equal(client.state, States.OPEN);
    assert.deepEqual(second.resumes.at(-1), { action: 'resume', streams: { 'room#r': { epoch: 'e', position: 1 } } });
    assert.deepEqual(
      states.map(([state, reason]) => (reason ? `${state}:${reason}` : state)),
      ['connecting', 'open', 'paused:hidden', 'connecting:visible', 'open'],
    );
  });

  test('back before the grace: the same socket, and a ping checks it is alive after a quiet spell', async (t) => {
    const { client, visibility } = setup(t, { hiddenGraceMs: 20 * MINUTE });
    const socket = await opened(client);
    visibility.set(true);
    for (let minute = 0; minute < 19; minute += 1) t.mock.timers.tick(MINUTE);
    assert.deepEqual(
      socket.appSent.map((m) => m.action),
      ['keepalive', 'keepalive'],
    );
    visibility.set(false); // nothing arrived for 19 minutes (more than keepAliveMs): is it still alive?
    assert.equal(socket.appSent.at(-1).action, 'ping');
    socket.serverSend({ type: 'pong' });
    for (let minute = 0; minute < 60; minute += 1) t.mock.timers.tick(MINUTE);
    await settle();
    assert.equal(socket.closedWith, null, 'the grace timer was cancelled');
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(client.state, States.OPEN);
  });

  test('a page that comes back after a busy spell sends no ping (frames showed the socket alive)', async (t) => {
    const { client, visibility } = setup(t);
    const socket = await opened(client);
    visibility.set(true);
    t.mock.timers.tick(MINUTE);
    socket.serverSend({ id: 'x', type: 't', data: 1 });
    visibility.set(false);
    assert.deepEqual(socket.appSent, []);
  });

  test('hiddenGraceMs: 0 never lets go', async (t) => {
    const { client, visibility } = setup(t, { hiddenGraceMs: 0 });
    const socket = await opened(client);
    visibility.set(true);
    t.mock.timers.tick(3 * 60 * MINUTE);
    assert.equal(client.state, States.OPEN);
    assert.equal(socket.closedWith, null);
  });

  test('hidden already at connect(): the grace runs from then', async (t) => {
    const { client, visibility } = setup(t, { hiddenGraceMs: MINUTE });
    visibility.isHidden = true;
    const socket = await opened(client);
    t.mock.timers.tick(MINUTE);
    assert.equal(client.state, States.PAUSED);
    assert.deepEqual(socket.closedWith, { code: 1000, reason: 'hidden' });
  });

  test('sendMessage while paused keeps the message and connects to send it now', async (t) => {
    const { client, visibility } = setup(t, { hiddenGraceMs: MINUTE });
    await opened(client);
    visibility.set(true);
    t.mock.timers.tick(MINUTE);
    assert.equal(client.state, States.PAUSED);
    assert.equal(client.sendMessage({ text: 'from a hidden tab' }), false);
    await settle();
    const socket = FakeWebSocket.last;
    assert.equal(FakeWebSocket.instances.length, 2);
    socket.serverOpen();
    assert.deepEqual(socket.appSent, [{ action: 'sendMessage', data: { text: 'from a hidden tab' } }]);
    t.mock.timers.tick(MINUTE); // still hidden: it lets go again after the grace
    assert.equal(client.state, States.PAUSED);
  });

  test('close() while paused is closed for good: becoming visible does not connect', async (t) => {
    const { client, visibility } = setup(t, { hiddenGraceMs: MINUTE });
    await opened(client);
    visibility.set(true);
    t.mock.timers.tick(MINUTE);
    client.close();
    visibility.set(false);
    await settle();
    assert.equal(client.state, States.CLOSED);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(visibility.listeners.size, 0, 'close() stops listening');
  });

  test('a grace that ends while reconnecting stops the retries too', async (t) => {
    const { client, visibility } = setup(t, { hiddenGraceMs: MINUTE, backoff: { baseMs: 10 * MINUTE } });
    const socket = await opened(client);
    visibility.set(true);
    socket.serverClose(1006);
    assert.equal(client.state, States.RECONNECTING);
    t.mock.timers.tick(MINUTE);
    assert.equal(client.state, States.PAUSED);
    t.mock.timers.tick(60 * MINUTE);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 1);
  });

  test('a visibility source without hidden() and onChange() is refused', () => {
    assert.throws(
      () => createHermesClient({ url: 'wss://x/y', getToken: () => 't', WebSocketImpl: FakeWebSocket, visibility: {} }),
      TypeError,
    );
  });
});
