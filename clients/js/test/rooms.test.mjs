// One socket, many rooms (issue 19): join(room) with a grant from getGrant, leave, re-join after every
// reconnect before the resume, a room revoked by the backend, subscriptions and sends per room.
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import { createHermesClient } from '../hermes-client.js';
import { envelope, FakeWebSocket, settle } from './fake-websocket.mjs';

const E = 'e1e1e1e1e1e1e1e1';

/** A grant as Hermes.grant makes it: only its `exp` matters to the client. */
function grant(room, exp = 2_000_000) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'HS512' })}.${part({ user_id: 'u1', room_id: room, exp })}.sig`;
}

function setup(t, options = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000_000 });
  const grants = [];
  const errors = [];
  const client = createHermesClient({
    url: 'wss://ws.example.com/prod',
    getToken: async () => 'tok',
    getGrant: async (room) => {
      grants.push(room);
      return grant(room);
    },
    WebSocketImpl: FakeWebSocket,
    random: () => 0.5,
    keepAliveMs: 0,
    backoff: { baseMs: 1000, maxMs: 8000, resetAfterMs: 10_000 },
    onError: (error) => errors.push(error),
    ...options,
  });
  return { client, grants, errors };
}

async function opened(client) {
  const done = client.connect();
  await settle();
  const socket = FakeWebSocket.last;
  socket.serverOpen();
  assert.equal(await done, true);
  return socket;
}

function joins(socket) {
  return socket.sentJson.filter((m) => m.action === 'join');
}

function joinedAnswer(room, position = 0) {
  return {
    type: 'hermes.joined',
    status: 200,
    route: 'join',
    room,
    streams: { [`room#${room}`]: { epoch: E, position }, [`user#u1#${room}`]: { epoch: '', position: 0 } },
  };
}

beforeEach(() => FakeWebSocket.reset());

describe('join and leave', () => {
  test('join sends the grant, resolves true on hermes.joined and starts the room streams at their heads', async (t) => {
    const { client, grants } = setup(t);
    const socket = await opened(client);
    const seen = [];
    client.on('joined', (detail) => seen.push(detail));
    const joining = client.join('D');
    await settle();
    assert.deepEqual(grants, ['D']);
    assert.deepEqual(joins(socket), [{ action: 'join', grant: grant('D') }]);
    socket.serverSend(joinedAnswer('D', 7));
    assert.equal(await joining, true);
    assert.deepEqual(seen, [{ room: 'D' }]);
    assert.deepEqual(client.rooms(), ['D']);
    assert.deepEqual(client.positions()['room#D'], { epoch: E, position: 7 });
  });

  test('a refused join resolves false, says why, and the room is not joined again', async (t) => {
    const { client } = setup(t);
    const socket = await opened(client);
    const refusals = [];
    client.on('refused', (answer) => refusals.push(answer.error));
    const joining = client.join('D');
    await settle();
    socket.serverSend({ type: 'hermes.refused', status: 403, route: 'join', room: 'D', error: "grant refused: it is another user's" });
    assert.equal(await joining, false);
    assert.deepEqual(refusals, ["grant refused: it is another user's"]);
    assert.deepEqual(client.rooms(), []);
  });

  test('after a reconnect the joined rooms are joined again (the grant reused) before the resume', async (t) => {
    const { client, grants } = setup(t);
    FakeWebSocket.answerResume = null;
    const socket = await opened(client);
    socket.serverSend({ type: 'hermes.recovery', status: 200, streams: {} });
    const joining = client.join('D');
    await settle();
    socket.serverSend(joinedAnswer('D'));
    await joining;
    socket.serverClose(1000, 'Normal closure');
    t.mock.timers.tick(8000);
    await settle();
    const next = FakeWebSocket.last;
    next.serverOpen();
    await settle();
    // the join goes first; the resume waits for its answer, so that it covers D's streams
    assert.deepEqual(next.sentJson, [{ action: 'join', grant: grant('D') }]);
    next.serverSend(joinedAnswer('D'));
    await settle();
    assert.deepEqual(next.sentJson.map((m) => m.action), ['join', 'resume']);
    assert.ok('room#D' in next.resumes[0].streams);
    assert.deepEqual(grants, ['D']); // still valid: not asked again
  });

  test('an expiring grant is asked for again at the re-join', async (t) => {
    let n = 0;
    const { client } = setup(t, { getGrant: async (room) => grant(room, 1_000_000 + 20 + n++) });
    const socket = await opened(client);
    const joining = client.join('D');
    await settle();
    socket.serverSend(joinedAnswer('D'));
    await joining;
    socket.serverClose(1000, 'Normal closure');
    t.mock.timers.tick(8000);
    await settle();
    FakeWebSocket.last.serverOpen();
    await settle();
    assert.equal(n, 2); // less than 30 s left: a fresh grant
  });

  test('leave sends the leave, stops re-joining; a room revoked by the backend is not re-joined either', async (t) => {
    const { client } = setup(t);
    const socket = await opened(client);
    const left = [];
    client.on('left', (detail) => left.push(detail));
    for (const room of ['D', 'E']) {
      const joining = client.join(room);
      await settle();
      socket.serverSend(joinedAnswer(room));
      await joining;
    }
    assert.equal(client.leave('D'), true);
    assert.deepEqual(socket.sentJson.at(-1), { action: 'leave', room: 'D' });
    socket.serverSend({ type: 'hermes.left', status: 200, route: 'leave', room: 'D', was_in: true });
    socket.serverSend({ type: 'hermes.left', room: 'E', reason: 'revoked' });
    assert.deepEqual(left, [
      { room: 'D', reason: 'left' },
      { room: 'E', reason: 'revoked' },
    ]);
    assert.deepEqual(client.rooms(), []);
  });

  test('a join answered 503 (busy) is sent again with the same grant, then resolves', async (t) => {
    const { client, grants } = setup(t);
    const socket = await opened(client);
    const joining = client.join('D');
    await settle();
    socket.serverSend({ type: 'hermes.refused', status: 503, route: 'join', room: 'D', error: 'busy', retry_after: 1 });
    t.mock.timers.tick(1500);
    assert.equal(joins(socket).length, 2);
    socket.serverSend(joinedAnswer('D'));
    assert.equal(await joining, true);
    assert.deepEqual(grants, ['D']);
  });

  test('a refusal naming no room ends the oldest join, keeps its room; the resume after a reconnect still goes', async (t) => {
    const { client } = setup(t);
    FakeWebSocket.answerResume = null;
    const socket = await opened(client);
    socket.serverSend({ type: 'hermes.recovery', status: 200, streams: {} });
    const joining = client.join('D');
    await settle();
    socket.serverSend(joinedAnswer('D'));
    await joining;
    socket.serverClose(1000, 'Normal closure');
    t.mock.timers.tick(8000);
    await settle();
    const next = FakeWebSocket.last;
    next.serverOpen();
    await settle();
    next.serverSend({ type: 'hermes.refused', status: 403, route: 'join', error: 'grant refused: invalid token' });
    await settle();
    assert.deepEqual(next.sentJson.map((m) => m.action), ['join', 'resume']);
    assert.deepEqual(client.rooms(), ['D']);
  });

  test('an unanswered re-join times out and the resume goes all the same', async (t) => {
    const { client } = setup(t);
    FakeWebSocket.answerResume = null;
    const socket = await opened(client);
    const joining = client.join('D');
    await settle();
    socket.serverSend(joinedAnswer('D'));
    await joining;
    socket.serverClose(1000, 'Normal closure');
    t.mock.timers.tick(8000);
    await settle();
    const next = FakeWebSocket.last;
    next.serverOpen();
    await settle();
    t.mock.timers.tick(30_000);
    await settle();
    assert.deepEqual(next.sentJson.map((m) => m.action), ['join', 'resume']);
  });

  test('join needs getGrant', async (t) => {
    const { client } = setup(t, { getGrant: undefined });
    assert.throws(() => client.join('D'), /needs `getGrant`/);
  });
});

describe('rooms on one socket', () => {
  test('subscriptions filter by room, and a send names its room', async (t) => {
    const { client } = setup(t, { resume: false });
    const socket = await opened(client);
    const inA = [];
    client.subscribe('*', (m) => inA.push(m.id), { room: 'A' });
    socket.serverSend({ ...envelope('a1'), room_id: 'A', source: 'backend' });
    socket.serverSend({ ...envelope('b1'), room_id: 'B', source: 'backend' });
    assert.deepEqual(inA, ['a1']);
    client.sendMessage({ hi: 1 }, { room: 'B' });
    assert.deepEqual(socket.appSent.at(-1), { action: 'sendMessage', data: { hi: 1 }, room: 'B' });
  });
});

describe('many rooms, many streams', () => {
  test('a socket in 100 rooms keeps the positions of all its 201 streams (none resumes from its head)', async (t) => {
    const { client } = setup(t);
    FakeWebSocket.answerResume = null;
    const socket = await opened(client);
    const streams = { 'user#u1': { epoch: E, position: 1, complete: true, replayed: 0 } };
    for (let i = 0; i < 100; i += 1) {
      streams[`room#r${i}`] = { epoch: E, position: 1, complete: true, replayed: 0 };
      streams[`user#u1#r${i}`] = { epoch: E, position: 1, complete: true, replayed: 0 };
    }
    socket.serverSend({ type: 'hermes.recovery', status: 200, streams });
    for (let i = 0; i < 100; i += 1) {
      socket.serverSend({ ...envelope(`m${i}`), room_id: `r${i}`, source: 'backend', stream: `room#r${i}`, epoch: E, position: 2 });
    }
    t.mock.timers.tick(2000);
    assert.equal(Object.keys(client.positions()).length, 201);
  });
});
