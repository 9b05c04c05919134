// One socket per browser (hermes-shared.js): tabs elect a leader with Web Locks and share its socket over a
// BroadcastChannel. Fakes play the browser (a lock manager and channels shared by "tabs", each tab with its
// own document for visibility) and the server (FakeWebSocket). `node --test clients/js/test/`
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';

import { createHermesClient, createSocketClient } from '../hermes-client.js';
import { createSharedClient, groupKey, sharingAvailable } from '../hermes-shared.js';
import { envelope, FakeWebSocket } from './fake-websocket.mjs';

const URL = 'wss://ws.example.com/prod';
const E = 'e1e1e1e1e1e1e1e1';

function abortError() {
  const error = new Error('aborted');
  error.name = 'AbortError';
  return error;
}

/** navigator.locks for every tab of one browser: exclusive locks, granted in request order. */
class FakeLocks {
  held = new Map(); // name → entry
  queues = new Map(); // name → waiting entries

  forTab(tab) {
    return { request: (name, options, callback) => this.request(tab, name, options, callback) };
  }

  request(tab, name, { signal } = {}, callback) {
    return new Promise((resolve, reject) => {
      const entry = { tab, callback, resolve, reject };
      if (signal?.aborted) return reject(abortError());
      signal?.addEventListener('abort', () => {
        const queue = this.queues.get(name) ?? [];
        const index = queue.indexOf(entry);
        if (index >= 0) {
          queue.splice(index, 1);
          reject(abortError());
        }
      });
      const queue = this.queues.get(name) ?? [];
      this.queues.set(name, queue);
      queue.push(entry);
      this.grant(name);
    });
  }

  grant(name) {
    if (this.held.has(name)) return;
    const entry = (this.queues.get(name) ?? []).shift();
    if (!entry) return;
    this.held.set(name, entry);
    queueMicrotask(async () => {
      try {
        entry.resolve(await entry.callback());
      } catch (err) {
        entry.reject(err);
      } finally {
        if (this.held.get(name) === entry) {
          this.held.delete(name);
          this.grant(name);
        }
      }
    });
  }

  /** The tab is gone (closed, crashed): the browser releases its locks and drops its requests. */
  kill(tab) {
    for (const queue of this.queues.values()) {
      for (let i = queue.length - 1; i >= 0; i -= 1) if (queue[i].tab === tab) queue.splice(i, 1);
    }
    for (const [name, entry] of [...this.held]) {
      if (entry.tab === tab) {
        this.held.delete(name);
        this.grant(name);
      }
    }
  }

  holder(name) {
    return this.held.get(name)?.tab;
  }
}

/** BroadcastChannel for every tab of one browser: to every other open channel of the name, in order. */
class FakeBus {
  channels = new Set();
  posted = [];

  classFor(tab) {
    const bus = this;
    return class FakeBroadcastChannel {
      constructor(name) {
        this.name = name;
        this.tab = tab;
        this.closed = false;
        this.onmessage = null;
        bus.channels.add(this);
      }

      postMessage(message) {
        if (this.closed) throw new Error('InvalidStateError: channel closed');
        const data = structuredClone(message);
        bus.posted.push(data);
        for (const other of bus.channels) {
          if (other === this || other.name !== this.name) continue;
          setImmediate(() => {
            if (!other.closed) other.onmessage?.({ data: structuredClone(data) });
          });
        }
      }

      close() {
        this.closed = true;
        bus.channels.delete(this);
      }
    };
  }

  kill(tab) {
    for (const channel of [...this.channels]) if (channel.tab === tab) channel.close();
  }
}

/** Let channel messages, lock grants and promise callbacks run. */
async function flush(rounds = 30) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

const browsers = [];

function newBrowser() {
  const browser = { locks: new FakeLocks(), bus: new FakeBus(), tabs: [] };
  browsers.push(browser);
  return browser;
}

/** After each test: every tab's client closed (no timer of a leader's socket client outlives its test). */
afterEach(() => {
  for (const browser of browsers.splice(0)) for (const tab of browser.tabs) tab.client.close();
});

/** A tab with its own document and a shared client; `got` is what its '*' subscriber received. */
function openTab(browser, name, options = {}) {
  const listeners = new Set();
  const doc = {
    visibilityState: 'visible',
    addEventListener: (type, listener) => type === 'visibilitychange' && listeners.add(listener),
    removeEventListener: (type, listener) => listeners.delete(listener),
    setHidden(hidden) {
      this.visibilityState = hidden ? 'hidden' : 'visible';
      for (const listener of [...listeners]) listener();
    },
  };
  class TabSocket extends FakeWebSocket {
    constructor(url) {
      super(url);
      this.tab = name;
    }
  }
  const visibilities = [];
  const factory = (socketOptions) => {
    if (socketOptions.visibility) visibilities.push(socketOptions.visibility);
    return createSocketClient(socketOptions);
  };
  const env = { locks: browser.locks.forTab(name), BroadcastChannel: browser.bus.classFor(name), document: doc };
  const got = [];
  const errors = [];
  const states = [];
  const client = createSharedClient(
    {
      url: URL,
      getToken: async () => `tok-${name}`,
      WebSocketImpl: TabSocket,
      keepAliveMs: 0,
      backoff: { baseMs: 1, maxMs: 1 },
      onError: (error) => errors.push(`${error.kind}: ${error.message}`),
      onStateChange: (state) => states.push(state),
      ...options,
    },
    factory,
    env,
  );
  client.subscribe('*', (message) => got.push(message.id));
  const tab = {
    name,
    client,
    got,
    errors,
    states,
    doc,
    visibilities,
    sockets: () => FakeWebSocket.instances.filter((ws) => ws.tab === name),
    /** The browser closes the tab: no goodbye, its locks released, its socket gone. */
    kill() {
      browser.bus.kill(name);
      browser.locks.kill(name);
      for (const ws of tab.sockets()) {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        ws.readyState = FakeWebSocket.CLOSED;
      }
    },
  };
  browser.tabs.push(tab);
  return tab;
}

/** Sockets not closed (by the client or the fake browser). */
function liveSockets() {
  return FakeWebSocket.instances.filter((ws) => ws.readyState !== FakeWebSocket.CLOSED);
}

/** connect() every tab in turn; the first leads: its socket opens. Resolves with that socket. */
async function connectAll(...tabs) {
  const done = [];
  for (const tab of tabs) {
    done.push(tab.client.connect());
    await flush();
  }
  const [socket] = liveSockets();
  socket.serverOpen();
  await flush();
  assert.deepEqual(await Promise.all(done), tabs.map(() => true));
  return socket;
}

function at(position, id = `m${position}`, stream = 'room#r1') {
  return { ...envelope(id), source: 'backend', room_id: 'r1', stream, epoch: E, position };
}

beforeEach(() => FakeWebSocket.reset());

const BOUNDED = { timeout: 5000 }; // a broken hand-over must fail, not hang

describe('one socket for the tabs of a browser', BOUNDED, () => {
  test('three tabs: one socket, every message once in each tab, every tab open', async () => {
    // GIVEN three tabs of one browser creating a client for the same stage
    const browser = newBrowser();
    const [a, b, c] = ['a', 'b', 'c'].map((name) => openTab(browser, name));
    // WHEN they connect and the server sends two messages (one of them twice, as SQS may)
    const socket = await connectAll(a, b, c);
    socket.serverSend({ ...envelope('m1'), source: 'backend' });
    socket.serverSend({ ...envelope('m1'), source: 'backend' });
    socket.serverSend({ ...envelope('m2'), source: 'backend' });
    await flush();
    // THEN one socket (the first tab's), and each tab got each message once
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(socket.tab, 'a');
    for (const tab of [a, b, c]) {
      assert.deepEqual(tab.got, ['m1', 'm2'], tab.name);
      assert.equal(tab.client.state, 'open', tab.name);
      assert.deepEqual(tab.states, ['connecting', 'open'], tab.name);
    }
  });

  test('each tab filters with its own subscriptions (type, source)', async () => {
    // GIVEN tab b subscribed to chat only, tab c to backend messages only
    const browser = newBrowser();
    const [a, b, c] = ['a', 'b', 'c'].map((name) => openTab(browser, name));
    const chats = [];
    const backend = [];
    b.client.subscribe('chat', (m) => chats.push(m.id));
    c.client.subscribe('*', (m) => backend.push(m.id), { source: 'backend' });
    const socket = await connectAll(a, b, c);
    // WHEN a backend job and a client chat arrive
    socket.serverSend({ ...envelope('job'), source: 'backend' });
    socket.serverSend({ ...envelope('hi', 'chat'), source: 'client' });
    await flush();
    // THEN each tab's subscriber got what it asked for
    assert.deepEqual(chats, ['hi']);
    assert.deepEqual(backend, ['job']);
    assert.deepEqual(a.got, ['job', 'hi']);
  });

  test('two stages, or two group names, never share', async () => {
    // GIVEN tabs for another stage, and tabs with different group names
    assert.notEqual(groupKey(URL, true), groupKey('wss://ws.example.com/staging', true));
    assert.notEqual(groupKey(URL, 'alice'), groupKey(URL, 'bob'));
    assert.equal(groupKey(URL, true), groupKey(URL, undefined));
    const browser = newBrowser();
    const a = openTab(browser, 'a', { share: 'alice' });
    const b = openTab(browser, 'b', { share: 'bob' });
    // WHEN both connect
    a.client.connect();
    b.client.connect();
    await flush();
    // THEN each leads its own group: two sockets
    assert.deepEqual(
      FakeWebSocket.instances.map((ws) => ws.tab),
      ['a', 'b'],
    );
  });

  test('options are checked as the socket client checks them', () => {
    const browser = newBrowser();
    assert.throws(() => openTab(browser, 'a', { url: '' }), /`url` is required/);
    assert.throws(() => openTab(browser, 'b', { getToken: 'nope' }), /`getToken` must be a function/);
  });
});

describe('what followers ask of the leader', BOUNDED, () => {
  test("a follower's sendMessage goes out on the leader's socket; its answer comes back to that tab only", async () => {
    // GIVEN a leader and two followers, connected
    const browser = newBrowser();
    const [a, b, c] = ['a', 'b', 'c'].map((name) => openTab(browser, name));
    const socket = await connectAll(a, b, c);
    const sent = { a: [], b: [], c: [] };
    const refused = { a: [], b: [], c: [] };
    for (const tab of [a, b, c]) {
      tab.client.on('sent', (answer) => sent[tab.name].push(answer.message_id));
      tab.client.on('refused', (answer) => refused[tab.name].push(answer.status));
    }
    // WHEN follower b sends, then follower c sends; the server answers both in order
    assert.equal(b.client.sendMessage({ text: 'from b' }, { type: 'chat' }), true);
    await flush();
    assert.equal(c.client.sendMessage({ text: 'from c' }), true);
    await flush();
    socket.serverSend({ type: 'hermes.sent', status: 200, message_id: 'x1', delivered: 3, gone: 0, failed: 0 });
    socket.serverSend({ type: 'hermes.refused', status: 429, error: 'too fast' });
    await flush();
    // THEN both went out on the one socket, b got its answer, c its refusal (and the error), a nothing
    assert.deepEqual(socket.appSent, [
      { action: 'sendMessage', data: { text: 'from b' }, type: 'chat' },
      { action: 'sendMessage', data: { text: 'from c' } },
    ]);
    assert.deepEqual(sent, { a: [], b: ['x1'], c: [] });
    assert.deepEqual(refused, { a: [], b: [], c: [429] });
    assert.deepEqual(c.errors, ['refused: sendMessage refused (429): too fast']);
    assert.deepEqual(a.errors.concat(b.errors), []);
    // AND a frame over the limit still throws in the follower itself
    assert.throws(() => b.client.sendMessage('x'.repeat(40_000)), RangeError);
  });

  test("a follower's join uses its own getGrant; the room's messages reach the tabs that joined it", async () => {
    // GIVEN three tabs; only b can fetch grants (a leader without getGrant)
    const browser = newBrowser();
    const grantsAsked = [];
    const a = openTab(browser, 'a');
    const b = openTab(browser, 'b', {
      getGrant: async (room) => {
        grantsAsked.push(room);
        return `grant-${room}`;
      },
    });
    const c = openTab(browser, 'c');
    const socket = await connectAll(a, b, c);
    // (the first resume answer names the token's room, r1: every tab gets it)
    socket.serverSend({
      type: 'hermes.recovery',
      status: 200,
      streams: { 'room#r1': { epoch: '', position: 0, complete: true, replayed: 0 } },
    });
    await flush();
    const joined = { a: [], b: [], c: [] };
    for (const tab of [a, b, c]) tab.client.on('joined', (detail) => joined[tab.name].push(detail.room));
    // WHEN b joins room "extra" and the server accepts the join
    const joining = b.client.join('extra');
    await flush();
    assert.deepEqual(
      socket.appSent.filter((m) => m.action === 'join'),
      [{ action: 'join', grant: 'grant-extra' }],
    );
    socket.serverSend({ type: 'hermes.joined', status: 200, route: 'join', room: 'extra', streams: {} });
    await flush();
    // THEN b's join resolved true, and only b heard of it
    assert.equal(await joining, true);
    assert.deepEqual(grantsAsked, ['extra']);
    assert.deepEqual(joined, { a: [], b: ['extra'], c: [] });
    assert.deepEqual(b.client.rooms(), ['extra']);
    assert.deepEqual(a.client.rooms(), []);
    // WHEN a message of "extra" and one of the token's room arrive
    socket.serverSend({ ...envelope('in-extra'), source: 'backend', room_id: 'extra' });
    socket.serverSend({ ...envelope('in-r1'), source: 'backend', room_id: 'r1' });
    socket.serverSend({ ...envelope('to-user'), source: 'backend', room_id: null });
    await flush();
    // THEN "extra" reached b only; the token's room and the user's message reached everyone
    assert.deepEqual(b.got, ['in-extra', 'in-r1', 'to-user']);
    assert.deepEqual(a.got, ['in-r1', 'to-user']);
    assert.deepEqual(c.got, ['in-r1', 'to-user']);
    // WHEN b leaves it: the socket leaves (no other tab is in it)
    assert.equal(b.client.leave('extra'), true);
    await flush();
    assert.deepEqual(socket.appSent.at(-1), { action: 'leave', room: 'extra' });
  });

  test('a room two tabs joined is left on the socket only when the last of them leaves', async () => {
    const browser = newBrowser();
    const getGrant = async (room) => `grant-${room}`;
    const [a, b] = ['a', 'b'].map((name) => openTab(browser, name, { getGrant }));
    const socket = await connectAll(a, b);
    // GIVEN both tabs joined "extra"
    const joins = [a.client.join('extra'), b.client.join('extra')];
    await flush();
    socket.serverSend({ type: 'hermes.joined', status: 200, route: 'join', room: 'extra', streams: {} });
    await flush();
    assert.deepEqual(await Promise.all(joins), [true, true]);
    assert.equal(socket.appSent.filter((m) => m.action === 'join').length, 1, 'joined once on the socket');
    // WHEN b leaves: THEN the socket stays in it (a still is); WHEN a leaves too: THEN the socket leaves
    b.client.leave('extra');
    await flush();
    assert.equal(socket.appSent.filter((m) => m.action === 'leave').length, 0);
    a.client.leave('extra');
    await flush();
    assert.deepEqual(socket.appSent.at(-1), { action: 'leave', room: 'extra' });
  });
});

describe('the leader goes, another takes over', BOUNDED, () => {
  test('a leader tab closed mid-stream: the next tab opens its socket and resumes; nothing lost or repeated', async () => {
    // GIVEN three tabs; the stream room#r1 is at position 0; the leader (a) delivered m1..m3
    FakeWebSocket.answerResume = null; // the test plays the resume route
    const browser = newBrowser();
    const [a, b, c] = ['a', 'b', 'c'].map((name) => openTab(browser, name));
    const first = await connectAll(a, b, c);
    first.serverSend({
      type: 'hermes.recovery',
      status: 200,
      streams: { 'room#r1': { epoch: '', position: 0, complete: true, replayed: 0 } },
    });
    for (const n of [1, 2, 3]) first.serverSend(at(n));
    await flush();
    assert.deepEqual(b.client.positions(), { 'room#r1': { epoch: E, position: 3 } });
    // WHEN the leader's tab is closed (m4, m5 published meanwhile never reach its socket)
    a.kill();
    await flush();
    // THEN b leads: one new socket, whose resume starts where the group stands
    const second = liveSockets().at(-1);
    assert.equal(second.tab, 'b');
    assert.equal(liveSockets().length, 1);
    second.serverOpen();
    assert.deepEqual(second.resumes, [{ action: 'resume', streams: { 'room#r1': { epoch: E, position: 3 } } }]);
    // WHEN the server replays m4, m5 (m3 again, as an overlap would) and m6 comes live
    second.serverSend({ type: 'hermes.replay', messages: [at(3), at(4), at(5)] });
    second.serverSend({
      type: 'hermes.recovery',
      status: 200,
      streams: { 'room#r1': { epoch: E, position: 5, complete: true, replayed: 3 } },
    });
    second.serverSend(at(6));
    await flush();
    // THEN b and c have every message once, in order; both are open
    for (const tab of [b, c]) {
      assert.deepEqual(tab.got, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'], tab.name);
      assert.equal(tab.client.state, 'open', tab.name);
    }
    assert.equal(browser.locks.holder(groupKey(URL, true) + '#leader'), 'b');
  });

  test('a message delivered before the takeover and again after it is dropped by id in every tab', async () => {
    // GIVEN a leader that delivered m1 without a position (as with history off)
    const browser = newBrowser();
    const [a, b, c] = ['a', 'b', 'c'].map((name) => openTab(browser, name));
    const first = await connectAll(a, b, c);
    first.serverSend({ ...envelope('m1'), source: 'backend' });
    await flush();
    const duplicates = [];
    c.client.on('duplicate', (m) => duplicates.push(m.id));
    // WHEN the leader's tab closes and the new leader's socket gets m1 again (an SQS redelivery), then m2
    a.kill();
    await flush();
    const second = liveSockets().at(-1);
    second.serverOpen();
    second.serverSend({ ...envelope('m1'), source: 'backend' });
    second.serverSend({ ...envelope('m2'), source: 'backend' });
    await flush();
    // THEN the new leader's socket client (which never saw m1) passed it on, and each tab dropped it
    assert.deepEqual(b.got, ['m1', 'm2']);
    assert.deepEqual(c.got, ['m1', 'm2']);
    assert.deepEqual(duplicates, ['m1']);
  });

  test("close() on the leader hands over: its socket closes, another tab's opens; the closed tab gets nothing more", async () => {
    // GIVEN two tabs, a leading
    const browser = newBrowser();
    const [a, b] = ['a', 'b'].map((name) => openTab(browser, name));
    const first = await connectAll(a, b);
    const closes = [];
    a.client.on('close', (detail) => closes.push(detail));
    // WHEN a closes
    a.client.close();
    await flush();
    // THEN its socket is closed by the client, b opened one of its own, a is closed
    assert.deepEqual(first.closedWith, { code: 1000, reason: 'leader tab left' });
    assert.equal(a.client.state, 'closed');
    assert.deepEqual(closes, [{ code: 1000, reason: 'client closed', wasOpen: true, byClient: true }]);
    const second = liveSockets().at(-1);
    assert.equal(second.tab, 'b');
    second.serverOpen();
    second.serverSend({ ...envelope('after'), source: 'backend' });
    await flush();
    assert.equal(b.client.state, 'open');
    assert.deepEqual(b.got, ['after']);
    assert.deepEqual(a.got, []);
  });

  test("close() on a follower detaches that tab only; the last tab's close() closes the socket", async () => {
    const browser = newBrowser();
    const [a, b] = ['a', 'b'].map((name) => openTab(browser, name));
    const socket = await connectAll(a, b);
    // WHEN the follower closes
    b.client.close();
    await flush();
    socket.serverSend({ ...envelope('m1'), source: 'backend' });
    await flush();
    // THEN the socket stays open for a; b got nothing more and is closed
    assert.equal(socket.readyState, FakeWebSocket.OPEN);
    assert.deepEqual(a.got, ['m1']);
    assert.deepEqual(b.got, []);
    assert.equal(b.client.state, 'closed');
    // WHEN the leader, now alone, closes: THEN the socket closes and no tab opens another
    a.client.close();
    await flush();
    assert.equal(socket.readyState, FakeWebSocket.CLOSED);
    assert.equal(FakeWebSocket.instances.length, 1);
  });
});

describe('visibility: the leader is hidden only when every tab is', BOUNDED, () => {
  test("the leader's socket client gets a visibility that aggregates every tab's", async () => {
    // GIVEN two visible tabs, a leading
    const browser = newBrowser();
    const [a, b] = ['a', 'b'].map((name) => openTab(browser, name));
    await connectAll(a, b);
    const [visibility] = a.visibilities;
    assert.equal(typeof visibility.onChange, 'function');
    let changes = 0;
    visibility.onChange(() => (changes += 1));
    assert.equal(visibility.hidden(), false);
    // WHEN the leader's tab is hidden: THEN still visible (b is)
    a.doc.setHidden(true);
    await flush();
    assert.equal(visibility.hidden(), false);
    assert.equal(changes, 0);
    // WHEN the follower's tab is hidden too: THEN hidden, and the listener heard it
    b.doc.setHidden(true);
    await flush();
    assert.equal(visibility.hidden(), true);
    assert.equal(changes, 1);
    // WHEN the follower is shown again: THEN visible
    b.doc.setHidden(false);
    await flush();
    assert.equal(visibility.hidden(), false);
    assert.equal(changes, 2);
    // WHEN the visible follower's tab is closed while the leader is hidden: THEN hidden
    b.kill();
    await flush();
    assert.equal(visibility.hidden(), true);
  });
});

describe('createHermesClient: shared where it can be, else a socket per client', BOUNDED, () => {
  const saved = {};
  beforeEach(() => {
    saved.navigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    saved.BroadcastChannel = globalThis.BroadcastChannel;
  });
  afterEach(() => {
    if (saved.navigator) Object.defineProperty(globalThis, 'navigator', saved.navigator);
    else delete globalThis.navigator;
    globalThis.BroadcastChannel = saved.BroadcastChannel;
  });

  const options = { url: URL, getToken: async () => 'tok', WebSocketImpl: FakeWebSocket, keepAliveMs: 0 };

  test('without navigator.locks (Node): each client its own socket, silently', async () => {
    Object.defineProperty(globalThis, 'navigator', { value: undefined, configurable: true, writable: true });
    assert.equal(sharingAvailable(), false);
    const errors = [];
    const one = createHermesClient({ ...options, onError: (e) => errors.push(e) });
    const two = createHermesClient({ ...options, onError: (e) => errors.push(e) });
    one.connect();
    two.connect();
    await flush();
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.deepEqual(errors, []);
    one.close();
    two.close();
  });

  test('with Web Locks and BroadcastChannel: clients of a stage share; share: false opts out', async () => {
    const browser = newBrowser();
    Object.defineProperty(globalThis, 'navigator', {
      value: { locks: browser.locks.forTab('page') },
      configurable: true,
      writable: true,
    });
    globalThis.BroadcastChannel = browser.bus.classFor('page');
    assert.equal(sharingAvailable(), true);
    const one = createHermesClient(options);
    const two = createHermesClient(options);
    const own = createHermesClient({ ...options, share: false });
    one.connect();
    await flush();
    two.connect();
    own.connect();
    await flush();
    assert.equal(FakeWebSocket.instances.length, 2, 'one shared socket, one of its own');
    assert.equal(two.state, 'connecting', "the follower mirrors the leader's state");
    for (const client of [two, one, own]) client.close();
    await flush();
  });
});
