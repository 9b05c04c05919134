// Gap-free delivery (issue 10): resume after every open, each stream in position order exactly once, replay
// frames, re-resume for a gap that does not fill, complete:false, epoch changes, the positions store, and
// history off. The fake socket plays the server, resume route included: `node --test clients/js/test/`
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import { createHermesClient } from '../hermes-client.js';
import { envelope, FakeWebSocket, settle } from './fake-websocket.mjs';

const ROOM = 'room#room-1';
const USER = 'user#u1';
const USER_ROOM = 'user#u1#room-1';
const E = 'e1e1e1e1e1e1e1e1';

/** An envelope as send_message makes it with history on. */
function at(position, id = `m${position}`, { stream = ROOM, epoch = E } = {}) {
  return { ...envelope(id), source: 'backend', stream, epoch, position };
}

/** The resume route's answer: every stream of the connection, head and outcome. */
function recovery(streams) {
  const full = {
    [ROOM]: { epoch: '', position: 0, complete: true, replayed: 0 },
    [USER]: { epoch: '', position: 0, complete: true, replayed: 0 },
    [USER_ROOM]: { epoch: '', position: 0, complete: true, replayed: 0 },
    ...streams,
  };
  return { type: 'hermes.recovery', status: 200, streams: full };
}

function replay(...messages) {
  return { type: 'hermes.replay', messages };
}

const timersOn = new WeakSet(); // a second client in the same test shares the fake clock

/** A client on fake timers; the test answers resume requests itself (FakeWebSocket.answerResume = null). */
function setup(t, options = {}) {
  if (!timersOn.has(t)) t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  timersOn.add(t);
  FakeWebSocket.answerResume = null;
  const got = [];
  const duplicates = [];
  const recoveries = [];
  const errors = [];
  const client = createHermesClient({
    url: 'wss://ws.example.com/prod',
    getToken: async () => 'tok',
    WebSocketImpl: FakeWebSocket,
    random: () => 0.5,
    backoff: { baseMs: 1000, maxMs: 8000, resetAfterMs: 10_000 },
    keepAliveMs: 0,
    onError: (error) => errors.push(error),
    ...options,
  });
  client.subscribe('*', (m) => got.push(m.id));
  client.on('duplicate', (m) => duplicates.push(m.id));
  client.on('recovery', (detail) => recoveries.push(detail));
  return { client, got, duplicates, recoveries, errors };
}

/** connect() and open the fake socket: resolves with it (its first frame is the resume request). */
async function opened(client) {
  const done = client.connect();
  await settle();
  const socket = FakeWebSocket.last;
  socket.serverOpen();
  assert.equal(await done, true);
  return socket;
}

/** A first connect that learned the heads: ROOM at (E, head). */
async function synced(client, head = 0) {
  const socket = await opened(client);
  socket.serverSend(recovery({ [ROOM]: { epoch: head ? E : '', position: head, complete: true, replayed: 0 } }));
  return socket;
}

/** The server drops the connection; the client reconnects after its backoff: the new socket, open. */
async function reconnect(t, socket) {
  socket.serverClose(1000, 'Normal closure');
  t.mock.timers.tick(8000);
  await settle();
  const next = FakeWebSocket.last;
  assert.notEqual(next, socket);
  next.serverOpen();
  return next;
}

beforeEach(() => FakeWebSocket.reset());

describe('resume after every open', () => {
  test('a first connect asks for the heads (no streams) before anything queued, and starts there', async (t) => {
    const { client, got, recoveries } = setup(t);
    client.connect();
    client.sendMessage('queued while connecting');
    await settle();
    const socket = FakeWebSocket.last;
    socket.serverOpen();
    assert.deepEqual(socket.sentJson, [{ action: 'resume' }, { action: 'sendMessage', data: 'queued while connecting' }]);
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 41, complete: true, replayed: 0 } }));
    assert.deepEqual(client.positions(), {
      [ROOM]: { epoch: E, position: 41 },
      [USER]: { epoch: '', position: 0 },
      [USER_ROOM]: { epoch: '', position: 0 },
    });
    assert.deepEqual(
      recoveries.map((r) => [r.stream, r.complete, r.position]),
      [
        [ROOM, true, 41],
        [USER, true, 0],
        [USER_ROOM, true, 0],
      ],
    );
    socket.serverSend(at(42));
    socket.serverSend(at(1, 'first-to-me', { stream: USER, epoch: 'f0f0' })); // a stream seen empty takes any epoch
    assert.deepEqual(got, ['m42', 'first-to-me']);
  });

  test('every reconnect, whatever closed the socket, resumes from where the client stands', async (t) => {
    const { client, got } = setup(t);
    let socket = await synced(client, 3);
    socket.serverSend(at(4));
    for (const code of [1000, 1001, 1006]) {
      socket.serverClose(code);
      t.mock.timers.tick(8000);
      await settle();
      socket = FakeWebSocket.last;
      socket.serverOpen();
      assert.deepEqual(socket.resumes, [
        {
          action: 'resume',
          streams: {
            [ROOM]: { epoch: E, position: 4 },
            [USER]: { epoch: '', position: 0 },
            [USER_ROOM]: { epoch: '', position: 0 },
          },
        },
      ]);
      socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 4, complete: true, replayed: 0 } }));
    }
    assert.deepEqual(got, ['m4']);
  });

  test('messages that come live before the first answer are held, then delivered in order', async (t) => {
    const { client, got } = setup(t);
    const socket = await opened(client);
    socket.serverSend(at(12));
    socket.serverSend(at(11)); // posted before the resume read the head (11), delivered late
    assert.deepEqual(got, []);
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 11, complete: true, replayed: 0 } }));
    assert.deepEqual(got, ['m11', 'm12']);
    assert.deepEqual(client.positions()[ROOM], { epoch: E, position: 12 });
  });
});

describe('each stream exactly once, in position order', () => {
  test('out-of-order live messages wait for the missing one (no resume when it comes in time)', async (t) => {
    const { client, got } = setup(t);
    const socket = await synced(client);
    for (const position of [2, 1, 4, 5, 3, 7]) socket.serverSend(at(position));
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4', 'm5']);
    t.mock.timers.tick(1000); // within reorderMs (1.5 s)
    socket.serverSend(at(6));
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    t.mock.timers.tick(10_000);
    assert.equal(socket.resumes.length, 1, 'only the resume sent at open');
  });

  test('streams are independent: a gap in one does not hold back another', async (t) => {
    const { client, got } = setup(t);
    const socket = await synced(client);
    socket.serverSend(at(2));
    socket.serverSend(at(1, 'direct', { stream: USER_ROOM, epoch: 'abcd' }));
    socket.serverSend(at(1));
    assert.deepEqual(got, ['direct', 'm1', 'm2']);
  });

  test('a duplicate (SQS redelivery) at a new position is dropped and still advances the position', async (t) => {
    const { client, got, duplicates } = setup(t);
    const socket = await synced(client);
    socket.serverSend(at(1, 'a'));
    socket.serverSend(at(3, 'a')); // the same message, processed again: a new position
    socket.serverSend(at(2, 'b'));
    socket.serverSend(at(4, 'c'));
    socket.serverSend(at(2, 'b')); // the same post twice
    assert.deepEqual(got, ['a', 'b', 'c']);
    assert.deepEqual(duplicates, ['a', 'b']);
    assert.deepEqual(client.positions()[ROOM], { epoch: E, position: 4 });
    t.mock.timers.tick(10_000);
    assert.equal(socket.resumes.length, 1, 'no gap: position 3 was the duplicate');
  });

  test('replay frames interleaved with live messages: each once, in order', async (t) => {
    const { client, got, duplicates, recoveries } = setup(t);
    let socket = await synced(client, 4);
    socket.serverSend(at(5));
    socket = await reconnect(t, socket);
    assert.deepEqual(socket.resumes.at(-1).streams[ROOM], { epoch: E, position: 5 });
    socket.serverSend(at(9)); // live, posted to the new connection while the replay is read
    socket.serverSend(replay(at(6), at(7)));
    socket.serverSend(at(8)); // live again
    socket.serverSend(replay(at(8), at(9)));
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 9, complete: true, replayed: 4 } }));
    socket.serverSend(at(10));
    assert.deepEqual(got, ['m5', 'm6', 'm7', 'm8', 'm9', 'm10']);
    assert.deepEqual(duplicates, ['m8', 'm9']);
    assert.deepEqual(recoveries.at(-3), { stream: ROOM, complete: true, replayed: 4, epoch: E, position: 9 });
  });

  test('an envelope too big to be wrapped is replayed alone, as a plain envelope, in its place', async (t) => {
    const { client, got } = setup(t);
    let socket = await synced(client, 1);
    socket = await reconnect(t, socket);
    socket.serverSend(replay(at(2)));
    socket.serverSend(at(3, 'big'));
    socket.serverSend(replay(at(4)));
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 4, complete: true, replayed: 3 } }));
    assert.deepEqual(got, ['m2', 'big', 'm4']);
  });
});

describe('a gap that does not fill', () => {
  test('after reorderMs the client resumes that stream and the history fills the gap', async (t) => {
    const { client, got } = setup(t);
    const socket = await synced(client);
    socket.serverSend(at(1));
    socket.serverSend(at(3)); // 2 was lost on the way (e.g. posted while this connection was still connecting)
    t.mock.timers.tick(1499);
    assert.equal(socket.resumes.length, 1);
    t.mock.timers.tick(1);
    assert.deepEqual(socket.resumes.at(-1).streams[ROOM], { epoch: E, position: 1 });
    socket.serverSend(replay(at(2), at(3)));
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 3, complete: true, replayed: 2 } }));
    assert.deepEqual(got, ['m1', 'm2', 'm3']);
    t.mock.timers.tick(60_000);
    assert.equal(socket.resumes.length, 2);
  });

  test('a head the replay did not reach is a gap too: resumed again', async (t) => {
    const { client, got } = setup(t);
    let socket = await synced(client, 2);
    socket = await reconnect(t, socket);
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 4, complete: true, replayed: 2 } })); // replay lost
    t.mock.timers.tick(1500);
    assert.deepEqual(socket.resumes.at(-1).streams[ROOM], { epoch: E, position: 2 });
    socket.serverSend(replay(at(3), at(4)));
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 4, complete: true, replayed: 2 } }));
    assert.deepEqual(got, ['m3', 'm4']);
  });

  test('still missing after 3 resumes: what is held is delivered and the gap is reported loudly', async (t) => {
    const { client, got, recoveries, errors } = setup(t);
    const socket = await synced(client);
    socket.serverSend(at(1));
    socket.serverSend(at(3));
    socket.serverSend(at(4));
    for (let i = 0; i < 3; i += 1) {
      t.mock.timers.tick(1500);
      socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 4, complete: true, replayed: 0 } }));
    }
    assert.equal(socket.resumes.length, 4);
    assert.deepEqual(got, ['m1']);
    t.mock.timers.tick(1500);
    assert.deepEqual(got, ['m1', 'm3', 'm4']);
    const gaveUp = recoveries.at(-1);
    assert.equal(gaveUp.complete, false);
    assert.equal(gaveUp.position, 4);
    assert.match(gaveUp.reason, /still missing after 3 resumes/);
    assert.match(errors.at(-1).message, /room#room-1: missed messages cannot be replayed .* refetch your state/);
    assert.equal(errors.at(-1).kind, 'recovery');
    socket.serverSend(at(5));
    assert.deepEqual(got, ['m1', 'm3', 'm4', 'm5']);
  });

  test('a gap while disconnected waits for the next open, whose resume fills it', async (t) => {
    const { client, got } = setup(t);
    let socket = await synced(client);
    socket.serverSend(at(2));
    socket.serverClose(1006);
    t.mock.timers.tick(1500); // reconnecting: nothing to send on
    await settle();
    socket = FakeWebSocket.last;
    socket.serverOpen();
    assert.deepEqual(socket.resumes.at(-1).streams[ROOM], { epoch: '', position: 0 });
    socket.serverSend(replay(at(1), at(2)));
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 2, complete: true, replayed: 2 } }));
    assert.deepEqual(got, ['m1', 'm2']);
  });
});

describe('what cannot be replayed: complete false', () => {
  test('past the retention: a loud recovery event and error, then the client carries on from the head', async (t) => {
    const { client, got, recoveries, errors } = setup(t);
    let socket = await synced(client, 4);
    socket.serverSend(at(5));
    socket = await reconnect(t, socket);
    socket.serverSend(at(2001)); // live, while the answer is on its way
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 2000, complete: false, replayed: 0 } }));
    assert.deepEqual(recoveries.at(-3), { stream: ROOM, complete: false, replayed: 0, epoch: E, position: 2000 });
    assert.deepEqual(
      errors.map((e) => [e.kind, e.message]),
      [
        [
          'recovery',
          'room#room-1: missed messages cannot be replayed (past the retention, the stream started over, or ' +
            'more than the server replays); refetch your state',
        ],
      ],
    );
    socket.serverSend(at(1999)); // from before the head: not delivered after the newer ones
    socket.serverSend(at(2002));
    assert.deepEqual(got, ['m5', 'm2001', 'm2002']);
    assert.deepEqual(client.positions()[ROOM], { epoch: E, position: 2002 });
  });

  test('the stream started over (new epoch): held live messages of the new epoch are delivered', async (t) => {
    const { client, got, recoveries } = setup(t);
    const socket = await synced(client, 7);
    socket.serverSend(at(1, 'new-1', { epoch: 'e2' }));
    socket.serverSend(at(2, 'new-2', { epoch: 'e2' }));
    assert.deepEqual(got, [], 'another epoch is not the next position');
    t.mock.timers.tick(1500);
    assert.deepEqual(socket.resumes.at(-1).streams[ROOM], { epoch: E, position: 7 });
    socket.serverSend(recovery({ [ROOM]: { epoch: 'e2', position: 2, complete: false, replayed: 0 } }));
    assert.deepEqual(got, ['new-1', 'new-2']);
    assert.equal(recoveries.at(-3).complete, false);
    assert.deepEqual(client.positions()[ROOM], { epoch: 'e2', position: 2 });
    socket.serverSend(at(3, 'new-3', { epoch: 'e2' }));
    socket.serverSend(at(8, 'old-8')); // the old numbering is over
    assert.deepEqual(got, ['new-1', 'new-2', 'new-3']);
  });
});

describe('positions across page loads (the `positions` store)', () => {
  test('a reloaded page resumes where the last one stopped; nothing seen before is delivered again', async (t) => {
    let stored = null;
    const saves = [];
    const store = {
      load: () => stored,
      save: (state) => {
        saves.push(state);
        stored = structuredClone(state);
      },
    };
    const first = setup(t, { positions: store });
    let socket = await synced(first.client, 10);
    socket.serverSend(at(11));
    socket.serverSend(at(12));
    assert.deepEqual(stored[ROOM], { epoch: E, position: 12 });
    first.client.close(); // the page goes away

    const second = setup(t, { positions: store }); // the page is loaded again
    socket = await opened(second.client);
    assert.deepEqual(socket.resumes, [
      {
        action: 'resume',
        streams: {
          [ROOM]: { epoch: E, position: 12 },
          [USER]: { epoch: '', position: 0 },
          [USER_ROOM]: { epoch: '', position: 0 },
        },
      },
    ]);
    socket.serverSend(replay(at(12), at(13), at(14))); // 12 included: already seen before the reload
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 14, complete: true, replayed: 3 } }));
    assert.deepEqual(second.got, ['m13', 'm14']);
    assert.deepEqual(stored[ROOM], { epoch: E, position: 14 });
    assert.ok(saves.length >= 3);
  });

  test('a store that throws or holds garbage is reported, never fatal', async (t) => {
    const { client, errors, got } = setup(t, {
      positions: {
        load: () => ({ [ROOM]: { epoch: E, position: -1 }, [USER]: 'x', [USER_ROOM]: { epoch: 'ok', position: 3 } }),
        save: () => {
          throw new Error('quota exceeded');
        },
      },
    });
    const socket = await opened(client);
    assert.deepEqual(socket.resumes[0].streams, { [USER_ROOM]: { epoch: 'ok', position: 3 } });
    socket.serverSend(recovery({}));
    socket.serverSend(at(1));
    assert.deepEqual(got, ['m1']);
    assert.ok(errors.some((e) => e.kind === 'recovery' && e.message === 'positions.save() failed: quota exceeded'));
    assert.throws(() => setup(t, { positions: { load: () => null } }), TypeError);
  });
});

describe('bounded memory', () => {
  test('at most 256 streams are kept: the ones that moved least recently go, never the connection’s own', async (t) => {
    let stored = {};
    for (let i = 0; i < 266; i += 1) stored[`room#old-${i}`] = { epoch: 'e', position: i + 1 };
    stored[USER] = { epoch: 'u', position: 9 }; // the oldest entry of all but one
    stored = { [USER]: stored[USER], ...stored };
    const { client } = setup(t, { positions: { load: () => stored, save: (state) => (stored = state) } });
    const socket = await opened(client);
    assert.equal(Object.keys(socket.resumes[0].streams).length, 267);
    socket.serverSend(recovery({ [USER]: { epoch: 'u', position: 9, complete: true, replayed: 0 } }));
    socket.serverSend(at(1));
    const kept = Object.keys(client.positions());
    assert.equal(kept.length, 256);
    assert.ok([ROOM, USER, USER_ROOM].every((stream) => kept.includes(stream)));
    assert.ok(!kept.includes('room#old-0') && kept.includes('room#old-265'));
    assert.deepEqual(Object.keys(stored).sort(), kept.sort());
  });
});

describe('history off', () => {
  test('envelopes without positions are delivered as they come, de-duplicated by id, as before', async (t) => {
    const { client, got, duplicates, errors, recoveries } = setup(t);
    let socket = await opened(client);
    // the stage has no resume route: API Gateway answers with its own error frame
    socket.serverSend({ message: 'Forbidden', connectionId: 'c1', requestId: 'r1' });
    socket.serverSend(envelope('b'));
    socket.serverSend(envelope('a'));
    socket.serverSend(envelope('b'));
    t.mock.timers.tick(60_000);
    assert.deepEqual(got, ['b', 'a']);
    assert.deepEqual(duplicates, ['b']);
    assert.deepEqual(errors, []);
    assert.deepEqual(recoveries, []);
    socket = await reconnect(t, socket);
    assert.deepEqual(socket.sentJson, [], 'no resume once the stage said it has no history');
  });

  test("the resume route's 404 (history off) stops resuming too; a 502 is retried", async (t) => {
    const { client, errors } = setup(t);
    let socket = await opened(client);
    socket.serverSend({ type: 'hermes.refused', status: 502, error: 'replay could not be delivered; resume again' });
    assert.equal(errors.at(-1).kind, 'recovery');
    t.mock.timers.tick(1500);
    assert.equal(socket.resumes.length, 2);
    socket.serverSend({ type: 'hermes.refused', status: 404, error: 'history is off for this deployment' });
    socket = await reconnect(t, socket);
    assert.deepEqual(socket.resumes, []);
  });

  test('resume: false never resumes and delivers positioned envelopes as they come', async (t) => {
    const { client, got } = setup(t, { resume: false });
    const socket = await opened(client);
    socket.serverSend(at(2));
    socket.serverSend(at(1));
    assert.deepEqual(got, ['m2', 'm1']);
    assert.deepEqual(socket.sentJson, []);
  });
});

describe('resume answers and sendMessage answers do not mix', () => {
  test('a Forbidden answering a send (client messages off) is the send’s; the resume still gets its answer', async (t) => {
    const { client, got } = setup(t);
    const refused = [];
    client.on('refused', (m) => refused.push(m.status));
    const socket = await opened(client);
    client.sendMessage('hi');
    socket.serverSend({ message: 'Forbidden', connectionId: 'c1', requestId: 'r1' });
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 3, complete: true, replayed: 0 } }));
    socket.serverSend(at(4));
    assert.deepEqual(refused, [403]);
    assert.deepEqual(got, ['m4']);
  });

  test('a resume without an answer is sent again after 30 s (API Gateway ends an integration at 29 s)', async (t) => {
    const { client, errors } = setup(t);
    const socket = await opened(client);
    t.mock.timers.tick(29_999);
    assert.deepEqual(errors, []);
    t.mock.timers.tick(1);
    assert.match(errors.at(-1).message, /resume failed \(no answer within 30000 ms\); retrying/);
    t.mock.timers.tick(1500);
    assert.equal(socket.resumes.length, 2);
  });
});

describe('presence events in the room stream', () => {
  test('a replayed or live join/leave takes its position in order and becomes a presence event', async (t) => {
    const { client, got } = setup(t);
    const socket = await synced(client, 0);
    const events = [];
    client.on('presence', (detail) => events.push([detail.type, detail.userId]));
    const join = { ...at(1, 'j1'), type: 'hermes.join', source: 'hermes', user_id: 'bob', data: { user_id: 'bob' } };
    const leave = { ...at(3, 'l1'), type: 'hermes.leave', source: 'hermes', user_id: 'bob', data: { user_id: 'bob' } };
    socket.serverSend(leave); // live, ahead of its predecessors: held
    socket.serverSend(replay(join, at(2)));
    assert.deepEqual(events, [
      ['join', 'bob'],
      ['leave', 'bob'],
    ]);
    assert.deepEqual(got, ['m2']);
    assert.deepEqual(client.positions()[ROOM], { epoch: E, position: 3 });
  });
});

describe('resume within the server budget', () => {
  test('an answer that says more is followed at once by a resume from where the replay stopped', async (t) => {
    const { client, got, errors } = setup(t);
    const socket = await synced(client, 2); // the room at position 2
    // a later reconnect missed 3..8; the server's budget replays 3..5 and says more
    const next = await reconnect(t, socket);
    next.sent.length = 0;
    next.serverSend(replay(at(3), at(4), at(5)));
    next.serverSend(recovery({ [ROOM]: { epoch: E, position: 8, complete: true, replayed: 3, more: true } }));
    // THEN without waiting for the reorder timer it resumes from 5, and the next replay completes the gap
    assert.equal(next.sentJson.length, 1);
    assert.deepEqual(next.sentJson[0].streams[ROOM], { epoch: E, position: 5 });
    next.serverSend(replay(at(6), at(7), at(8)));
    next.serverSend(recovery({ [ROOM]: { epoch: E, position: 8, complete: true, replayed: 3 } }));
    assert.deepEqual(got, ['m3', 'm4', 'm5', 'm6', 'm7', 'm8']);
    assert.equal(errors.filter((e) => e.kind === 'recovery').length, 0);
  });

  test('a throttled resume (429) is asked again after retry_after, not counted as a failure', async (t) => {
    const { client, got, errors } = setup(t);
    const socket = await synced(client, 2);
    const next = await reconnect(t, socket);
    next.sent.length = 0;
    for (let i = 0; i < 5; i += 1) {
      // five refusals in a row: more than MAX_RESUME_FAILURES would allow if they counted
      next.serverSend({ type: 'hermes.refused', status: 429, error: 'at most 10 resumes per 60 s', retry_after: 60 });
      t.mock.timers.tick(74_000); // retry_after 60 s with its jitter: 1.25 × at random() = 0.5
      assert.equal(next.sentJson.length, i, 'not before retry_after');
      t.mock.timers.tick(1_000);
      assert.equal(next.sentJson.length, i + 1);
    }
    next.serverSend(replay(at(3)));
    next.serverSend(recovery({ [ROOM]: { epoch: E, position: 3, complete: true, replayed: 1 } }));
    assert.deepEqual(got, ['m3']);
    assert.ok(!errors.some((e) => /not retried/.test(e.message)));
  });
});

describe('answers name their route', () => {
  test('a resume refused while a send awaits its answer is the resume’s, and the send’s answer stays the send’s', async (t) => {
    const { client, errors } = setup(t);
    const socket = await synced(client, 2);
    const next = await reconnect(t, socket);
    const refusals = [];
    client.on('refused', (r) => refusals.push(r.status));
    client.sendMessage('hello'); // awaits its answer
    next.sent.length = 0;
    next.serverSend({ type: 'hermes.refused', status: 429, route: 'resume', error: 'budget', retry_after: 60 });
    assert.deepEqual(refusals, [], 'not reported as the send’s refusal');
    assert.ok(errors.some((e) => /resume throttled/.test(e.message)));
    next.serverSend({ type: 'hermes.sent', status: 200, route: 'sendMessage', message_id: 'm', delivered: 1 });
    t.mock.timers.tick(91_000); // retry_after with its jitter (at most 1.5 ×)
    assert.equal(next.resumes.length, 1);
  });

  test('throttled retries do not use up a gap’s attempts', async (t) => {
    const { client, got, recoveries } = setup(t);
    const socket = await synced(client, 2);
    socket.serverSend(at(4)); // 3 is missing: a gap
    for (let i = 0; i < 6; i += 1) {
      t.mock.timers.tick(100_000);
      socket.serverSend({ type: 'hermes.refused', status: 429, route: 'resume', error: 'budget', retry_after: 60 });
    }
    assert.ok(!recoveries.some((r) => r.complete === false), 'never gave up on the gap because of throttling');
    t.mock.timers.tick(100_000);
    socket.serverSend(replay(at(3)));
    socket.serverSend(recovery({ [ROOM]: { epoch: E, position: 4, complete: true, replayed: 1 } }));
    assert.deepEqual(got, ['m3', 'm4']);
  });
});
