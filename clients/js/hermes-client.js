// Hermes browser client: one WebSocket to a Hermes stage (API Gateway), typed subscribers, automatic
// reconnect with a fresh token, keep-alive pings, de-duplication by message id, and gap-free delivery:
// after every (re)connect it resumes its streams, so what it missed is replayed, in order, exactly once.
// A plain ES module: no build step, no dependencies. Works in browsers and in Node >= 22 (global
// WebSocket) or with any WHATWG-compatible WebSocket passed as `WebSocketImpl`.
//
//   import { createHermesClient } from './hermes-client.js';
//   const client = createHermesClient({ url: 'wss://ws.example.com/prod', getToken: fetchToken });
//   client.subscribe('job.finished', (message) => console.log(message.data));
//   client.connect();
//
// What the server sends (README "Messages"): {"id","type","source","room_id","user_id","data","sent_at"},
// where `source` (set by Hermes, never by the sender) is "backend" (published through the queue / SDK) or
// "client" (sent by a connected client through the sendMessage route). Unknown fields are passed through.
// With history on (the module's history_retention_seconds > 0) envelopes also carry "stream", "epoch" and
// "position" (1, 2, 3, … per stream and epoch); the client delivers each stream in position order.
// What this client sends: {"action":"sendMessage","data":…,"type"?:…,"exclude_self"?:true},
// {"action":"keepalive"} (one-way: answered by nothing, billed once) after 9 minutes without sending,
// {"action":"ping"} (answered by the stage itself with {"type":"pong"}: a liveness probe, billed twice) when
// nothing arrived for an hour or the tab comes back, and, after every open and when a
// position is missing, {"action":"resume","streams"?:{"<stream>":{"epoch":…,"position":n}}} (answered by
// {"type":"hermes.replay","messages":[…]} frames, then {"type":"hermes.recovery","streams":{…}}).
// With the module's presence_events_enabled on, the room also gets Hermes' own {"type":"hermes.join"|"hermes.leave",
// "source":"hermes","data":{"user_id":…}} envelopes (kept in the room's stream): they become `presence`
// events, never notifications.

import { createSharedClient, sharingAvailable } from './hermes-shared.js';

// --- types (JSDoc; `hermes-client.d.ts` is generated from them: `make js-types`) ---------------------------

/** @typedef {'idle' | 'connecting' | 'open' | 'reconnecting' | 'paused' | 'closed'} State */
/** @typedef {'backend' | 'client' | 'unknown'} MessageSource */
/** @typedef {MessageSource | 'any'} SourceFilter */

/**
 * A notification as subscribers get it (README "Messages"). Fields the server adds later pass through.
 * @typedef {object} HermesMessage
 * @property {string} type
 * @property {MessageSource} source  set by Hermes: `'backend'`, `'client'`, or `'unknown'` (missing/unrecognized)
 * @property {string} [id]  the same on every copy of one message (duplicates are dropped)
 * @property {string | null} [room_id]
 * @property {string | null} [user_id]  the sender, for a client message
 * @property {any} [data]
 * @property {string} [sent_at]  ISO 8601, UTC
 * @property {string} [stream]  with history on: the message's stream (`room#<room>`, `user#<user>`, `user#<user>#<room>`)
 * @property {string} [epoch]  with history on: the stream's numbering (changes only if the stream starts over)
 * @property {number} [position]  with history on: 1, 2, 3, … in the stream; delivered in this order
 */

/**
 * Where the client stands in one stream: the epoch and the last position delivered (0: none yet).
 * @typedef {object} StreamPosition
 * @property {string} epoch  `''` for a stream that was still empty when the client first saw it
 * @property {number} position
 */

/** @typedef {Record<string, StreamPosition>} PositionsState  stream name → where the client stands */

/**
 * Keeps the positions across page loads (e.g. in localStorage), so a reloaded page resumes where it stopped
 * instead of starting at the streams' heads. Both are called synchronously; errors are reported, not thrown.
 * @typedef {object} PositionsStore
 * @property {() => (PositionsState | null | undefined)} load  called once, by the first connect()
 * @property {(state: PositionsState) => void} save  called after every frame that moved a position
 */

/**
 * A user arrived in or left the room (the `presence` event; the module's presence_events_enabled must be on). About
 * users, not tabs: a join for a user's first connection in the room, a leave when their last one is gone.
 * Events can repeat (e.g. two tabs closing at once): treat them as idempotent updates of a set of users.
 * @typedef {object} PresenceDetail
 * @property {'join' | 'leave'} type
 * @property {string} userId
 * @property {string | null} roomId
 * @property {string} [id]  the envelope's id
 * @property {string} [sentAt]  ISO 8601, UTC
 */

/**
 * The outcome of a resume for one stream (the `recovery` event), after every (re)connect and every resume.
 * @typedef {object} RecoveryDetail
 * @property {string} stream
 * @property {boolean} complete  false: messages were missed that can no longer be replayed (past the retention,
 *   the stream started over, more than the server replays, or a gap that never filled): REFETCH your state
 * @property {number} replayed  messages the server replayed for this stream
 * @property {string} epoch  where the client stands now
 * @property {number} position  the stream's head as the server answered it (or where the client gave up)
 * @property {string} [reason]  only when the client itself gave up on a gap
 * @property {boolean} [more]  the server stopped at its byte budget for one resume: the client resumes again
 *   at once for the rest (the app need not do anything)
 */

/**
 * The route's answer to a sendMessage that went out.
 * @typedef {object} SentAnswer
 * @property {'hermes.sent'} type
 * @property {number} status
 * @property {string} message_id
 * @property {number} delivered
 * @property {number} gone
 * @property {number} failed
 */

/**
 * A sendMessage that did not go out: the route's `hermes.refused` answer (400 reserved type or bad body,
 * 413 too big, 429 too fast, …), or API Gateway's error frame (`gateway: true`; 403 Forbidden when the
 * stage has no sendMessage route, i.e. client messages are off; 502 for any other).
 * @typedef {object} RefusedAnswer
 * @property {'hermes.refused'} type
 * @property {number} status
 * @property {string} error
 * @property {boolean} [gateway]
 * @property {string} [connectionId]
 * @property {string} [requestId]
 */

/**
 * @typedef {'malformed' | 'gateway' | 'callback' | 'refused' | 'token' | 'auth' | 'socket' | 'timeout' | 'send'
 *   | 'recovery' | 'join'} ErrorKind
 */

/**
 * @typedef {object} HermesError
 * @property {ErrorKind} kind
 * @property {string} message
 * @property {Error} [error]
 */

/**
 * What comes with a state change (which fields depends on the change).
 * @typedef {object} StateDetail
 * @property {State} previous
 * @property {string} [reason]  e.g. 'unauthorized' (getToken threw HermesAuthError), 'token', 'socket',
 *   'hidden' (paused: the page was hidden longer than hiddenGraceMs), 'visible' (connecting again after that)
 * @property {unknown} [error]  with reason 'unauthorized': what getToken threw
 * @property {number} [attempt]  reconnecting: the attempt about to be made
 * @property {number} [delayMs]  reconnecting: the wait before it
 * @property {number} [code]  the close code, when a close caused the change
 * @property {boolean} [gaveUp]  closed: maxRetries was reached
 * @property {boolean} [byClient]  closed: close() was called
 * @property {number} [connection]  open: how many connections this client has opened so far
 */

/**
 * @typedef {object} CloseDetail
 * @property {number} [code]
 * @property {string} [reason]
 * @property {boolean} wasOpen
 * @property {boolean} [byClient]
 */

/**
 * @typedef {object} UnauthorizedDetail
 * @property {unknown} error  what getToken threw
 * @property {string} message
 */

/**
 * Listener signatures of `client.on(event, callback)`.
 * @typedef {object} HermesEvents
 * @property {(state: State, detail: StateDetail) => void} state
 * @property {(detail: {connection: number}) => void} open
 * @property {(detail: CloseDetail) => void} close
 * @property {(detail: {attempt: number, delayMs: number}) => void} reconnect
 * @property {(message: HermesMessage) => void} message  every new notification, any source
 * @property {(message: HermesMessage) => void} duplicate
 * @property {() => void} pong
 * @property {(answer: SentAnswer) => void} sent
 * @property {(answer: RefusedAnswer) => void} refused
 * @property {(detail: UnauthorizedDetail) => void} unauthorized
 * @property {(detail: RecoveryDetail) => void} recovery  per stream, after each resume; `complete: false`: refetch
 * @property {(detail: PresenceDetail) => void} presence  a user joined or left the room (presence_events_enabled on)
 * @property {(detail: RoomDetail) => void} joined  this socket joined a room (join(), or a re-join after a reconnect)
 * @property {(detail: RoomDetail) => void} left  this socket left a room: leave(), or `reason: 'revoked'` by the backend
 * @property {(error: HermesError) => void} error
 */

/**
 * @typedef {object} RoomDetail
 * @property {string} room
 * @property {string} [reason]  left: 'left' (leave()) or 'revoked' (the backend revoked the room)
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {SourceFilter} [source='any']  `'backend'`: only what your backend published
 * @property {string} [room]  only messages of this room (a socket carries every room of its user)
 */

/**
 * @typedef {object} SendOptions
 * @property {string} [type]  the message type (the server's default when omitted); not `pong` or `hermes.*`
 * @property {boolean} [excludeSelf=false]  not to this connection itself
 * @property {string} [room]  the room to send to: required when the socket is in more than one
 */

/**
 * @typedef {object} BackoffOptions
 * @property {number} [baseMs=1000]
 * @property {number} [maxMs=30000]
 * @property {number} [resetAfterMs=10000]  a connection up this long resets the attempt counter
 */

/**
 * @typedef {object} HermesClientOptions
 * @property {string} url  the stage URL, e.g. wss://ws.example.com/prod (the token is added as ?token=)
 * @property {() => (string | Promise<string>)} getToken  called for a FRESH token before every (re)connect;
 *   throw HermesAuthError when nobody is signed in (the client stops), any other error is retried. The token
 *   names the rooms the socket is in from its connect (your backend's `issue_token(user, rooms)`)
 * @property {(room: string) => (string | Promise<string>)} [getGrant]  a grant for one room more (your
 *   backend's `Hermes.grant(user, room)`), for join(room); a grant is reused for re-joins until it expires
 * @property {number} [keepAliveMs=540000]  after this long without sending anything, send a one-way keep-alive
 *   (API Gateway closes a connection after 10 idle minutes; 1 billed message each); 0 disables
 * @property {number} [probeAfterMs=3600000]  when nothing arrived for this long, the keep-alive is a ping
 *   answered by a pong instead (2 billed messages): a dead socket is noticed within probeAfterMs +
 *   keepAliveMs + pongTimeoutMs at worst; sooner when the page comes back, the network comes back ('online')
 *   or a send fails. 0: every keep-alive is a ping
 * @property {number} [pongTimeoutMs=30000]  reconnect if a ping gets no pong in time; 0 disables (and probing)
 * @property {number} [hiddenGraceMs=1200000]  a page hidden this long closes its socket (state 'paused') and
 *   reconnects and resumes when it is visible again: nothing is lost (history). 0: never let go
 * @property {VisibilitySource | null} [visibility]  whether the page is hidden (default: `document`, when
 *   there is one); null: never hidden
 * @property {BackoffOptions} [backoff]
 * @property {number} [maxRetries=Infinity]  consecutive failed attempts before giving up (state 'closed')
 * @property {number} [connectTimeoutMs=15000]
 * @property {number} [dedupSize=1000]  how many message ids are remembered to drop duplicates
 * @property {number} [maxQueued=100]  sendMessage calls kept while disconnected (oldest dropped)
 * @property {number} [maxFrameBytes=32768]  bigger messages throw RangeError (API Gateway's frame limit)
 * @property {boolean} [resume=true]  resume after every open and deliver each stream in position order;
 *   false: envelopes are delivered as they arrive (as without history)
 * @property {PositionsStore} [positions]  keeps positions across page loads (README "Resume")
 * @property {number} [reorderMs=1500]  how long a later position waits for a missing one before the client
 *   resumes to get it from the history
 * @property {WebSocketConstructor} [WebSocketImpl=globalThis.WebSocket]
 * @property {(state: State, detail: StateDetail) => void} [onStateChange]
 * @property {(error: HermesError) => void} [onError]
 * @property {() => number} [random=Math.random]  jitter source (tests)
 * @property {boolean | string} [share=true]  tabs of this origin share one socket for this stage (hermes-shared.js;
 *   README "One socket per browser"); a string: only tabs with the same group name share; false: a socket per tab
 */

/**
 * Whether the page is hidden, and a way to hear when that changes (the default reads `document`).
 * @typedef {object} VisibilitySource
 * @property {() => boolean} hidden
 * @property {(listener: () => void) => () => void} onChange  returns a function that stops listening
 */

/**
 * What the client needs of a WebSocket: the browser's, Node's (22+), or `ws`.
 * @typedef {new (url: string) => WebSocketLike} WebSocketConstructor
 */

/**
 * @typedef {object} WebSocketLike
 * @property {number} readyState
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {((event: any) => void) | null} onopen
 * @property {((event: any) => void) | null} onmessage  `event.data`: the frame (a string for text frames)
 * @property {((event: any) => void) | null} onerror
 * @property {((event: any) => void) | null} onclose  `event.code`, `event.reason`
 */

/** @typedef {{readonly state: State} & HermesClientMethods} HermesClient  `state`: the current state */

/**
 * @typedef {object} HermesClientMethods
 * @property {() => Promise<boolean>} connect  start (or restart after close()); resolves true once open,
 *   false if close() is called, reconnecting gives up, or getToken throws HermesAuthError first; never rejects
 * @property {(code?: number, reason?: string) => void} close  for good: no reconnect until connect()
 * @property {(type: string, callback: (message: HermesMessage) => void, options?: SubscribeOptions) => () => void
 *   } subscribe  messages of `type` ('*': every type), optionally of one source; returns unsubscribe
 * @property {<E extends keyof HermesEvents>(event: E, callback: HermesEvents[E]) => () => void} on  returns off
 * @property {(data: unknown, options?: SendOptions) => boolean} sendMessage  true if sent now, false if queued
 *   (or dropped after close()); throws RangeError over the frame limit, TypeError for data that is not JSON
 * @property {() => boolean} ping  send a keep-alive ping now (normally automatic); whether it was sent
 * @property {() => PositionsState} positions  where the client stands in each stream it knows (a copy)
 * @property {(room: string) => Promise<boolean>} join  this socket joins `room` (a grant from getGrant), now
 *   and after every reconnect until leave(room); true when joined, false when refused (see 'refused')
 * @property {(room: string) => boolean} leave  stop receiving `room` (and re-joining it); whether it was sent
 * @property {() => string[]} rooms  the rooms join() added (the token's own rooms are the backend's choice)
 */

/**
 * Connection states, in the order a healthy client goes through them.
 * @type {Readonly<{
 *   IDLE: 'idle', CONNECTING: 'connecting', OPEN: 'open', RECONNECTING: 'reconnecting', PAUSED: 'paused',
 *   CLOSED: 'closed'
 * }>}
 */
export const States = Object.freeze({
  IDLE: 'idle', // created, connect() not called yet
  CONNECTING: 'connecting', // fetching a token / opening the socket
  OPEN: 'open', // connected; messages flow
  RECONNECTING: 'reconnecting', // the connection was lost; waiting for the next attempt
  PAUSED: 'paused', // hidden longer than hiddenGraceMs: no socket until the page is visible again
  CLOSED: 'closed', // close() was called, reconnecting gave up (maxRetries), or getToken threw HermesAuthError
});

/**
 * Where a notification came from, as the client reports it in `message.source`: `'backend'` (your backend,
 * through the queue / SDK), `'client'` (another connected client, through the sendMessage route), or
 * `'unknown'` (the frame had no `source`, or one this client does not know). Only `'backend'` is a backend
 * message; `'unknown'` never counts as one.
 * @type {Readonly<{BACKEND: 'backend', CLIENT: 'client', UNKNOWN: 'unknown'}>}
 */
export const Sources = Object.freeze({ BACKEND: 'backend', CLIENT: 'client', UNKNOWN: 'unknown' });

/** What `subscribe(type, callback, { source })` accepts: one source, or 'any' (the default). */
/** @type {Set<unknown>} */
const SUBSCRIBE_SOURCES = new Set([Sources.BACKEND, Sources.CLIENT, Sources.UNKNOWN, 'any']);

/**
 * Throw this from `getToken` (or any error whose `name` is `'HermesAuthError'`, so a copy of this class from
 * another bundle works too) when there is no session to get a token for, e.g. the user logged out: the client
 * stops instead of retrying, moves to `closed` with `detail.reason === 'unauthorized'`, emits `unauthorized`,
 * and drops the messages queued for sending. `connect()` starts again (after a new login).
 */
export class HermesAuthError extends Error {
  /** @param {string} [message] */
  constructor(message = 'not authorized: no token can be issued') {
    super(message);
    this.name = 'HermesAuthError';
  }
}

/** @param {unknown} error @returns {boolean} */
function isAuthError(error) {
  if (error instanceof HermesAuthError) return true;
  const named = typeof error === 'object' && error !== null ? /** @type {{name?: unknown}} */ (error).name : undefined;
  return named === 'HermesAuthError';
}

/** @param {unknown} source @returns {MessageSource} */
function normalizeSource(source) {
  return source === Sources.BACKEND || source === Sources.CLIENT ? source : Sources.UNKNOWN;
}

/** Types only Hermes itself sends: the route's answers (hermes.*) and the ping route's pong. @param {unknown} type */
function isReservedType(type) {
  return type === 'pong' || (typeof type === 'string' && type.startsWith('hermes.'));
}

/** Hermes' own room events (presence_events_enabled): type → the `presence` event's type. */
const PRESENCE_TYPES = new Map([
  ['hermes.join', 'join'],
  ['hermes.leave', 'leave'],
]);

/**
 * A join/leave envelope: only Hermes sends these (source "hermes"; the server refuses the types from
 * anyone else, and a client message with a reserved type is dropped before it gets here).
 * @param {any} message @returns {boolean}
 */
function isPresenceEnvelope(message) {
  return (
    PRESENCE_TYPES.has(message.type) &&
    message.source === 'hermes' &&
    message.data !== null &&
    typeof message.data === 'object' &&
    typeof message.data.user_id === 'string'
  );
}

/** API Gateway's error frames answering a sendMessage, as the status of a `refused` event. */
// API Gateway's own error frames by their message (a throttled route: 429, as its documentation says)
const GATEWAY_STATUS = new Map([
  ['Forbidden', 403],
  ['Too Many Requests', 429],
]);

const DEFAULTS = Object.freeze({
  // API Gateway closes a connection after 10 minutes without a frame from the client. 9 minutes leaves a
  // minute for a timer that fires late: a hidden tab's timers run on 1-second-aligned wake-ups (1-minute ones
  // only for chained timers, which the keep-alive avoids: see armKeepAlive)
  keepAliveMs: 9 * 60 * 1000,
  probeAfterMs: 60 * 60 * 1000, // nothing arrived for an hour: the next keep-alive asks for a pong
  pongTimeoutMs: 30 * 1000, // no pong in time: the connection is dead (half-open TCP), reconnect
  // a hidden page keeps its socket this long (bench/user_cost.py: where an idle socket's minutes and the
  // messages it is sent while hidden cost more than a reconnect and its resume)
  hiddenGraceMs: 20 * 60 * 1000,
  connectTimeoutMs: 15 * 1000,
  dedupSize: 1000,
  maxRetries: Infinity,
  maxQueued: 100,
  maxFrameBytes: 32 * 1024, // API Gateway closes the connection (1009) on a bigger frame
  reorderMs: 1500, // a later position waits this long for a missing one, then the client resumes
  backoff: Object.freeze({ baseMs: 1000, maxMs: 30 * 1000, resetAfterMs: 10 * 1000 }),
});

const OPEN = 1; // WebSocket.OPEN, the same for every implementation
const CLOSE_NORMAL = 1000;
const CLOSE_DEAD = 4000; // our own code: no pong / connect timeout (4000-4999 are for applications)

// Gap-free delivery (history on: envelopes with stream, epoch and position)
const RESUME_TIMEOUT_MS = 30 * 1000; // API Gateway ends an integration at 29 s: no answer by then, resume again
const MAX_RESUME_FAILURES = 3; // unanswered or refused resumes per connection before the client stops asking
const MAX_GAP_RESUMES = 3; // resumes for one gap before the client delivers what it holds and reports the gap
const MAX_HELD = 1000; // messages one stream may hold back waiting for a missing position
// streams remembered (the ones that moved least recently are forgotten first): a socket in 100 rooms follows
// 201 (each room's, its user's, its user's in each room); one forgotten would resume from its head, losing a gap
const MAX_STREAMS = 256;
const MAX_EPOCH_LENGTH = 32; // the server refuses longer ones

/**
 * The full-jitter exponential backoff delay before reconnect attempt `attempt` (1-based).
 * @param {number} attempt
 * @param {{baseMs: number, maxMs: number}} backoff
 * @param {() => number} [random=Math.random]
 * @returns {number}
 */
export function backoffDelay(attempt, { baseMs, maxMs }, random = Math.random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * `url` with `token` as its `token` query parameter (replacing one already there).
 * @param {string} url
 * @param {string} token
 * @returns {string}
 */
export function withToken(url, token) {
  const [base, hash = ''] = String(url).split('#', 2);
  const [path, query = ''] = base.split('?', 2);
  const params = new URLSearchParams(query);
  params.set('token', token);
  return `${path}?${params.toString()}${hash ? `#${hash}` : ''}`;
}

/** The page's visibility from `document`, or null where there is none (Node, workers). @returns {VisibilitySource | null} */
function documentVisibility() {
  const doc = /** @type {any} */ (globalThis).document;
  if (!doc || typeof doc.addEventListener !== 'function' || !('visibilityState' in doc)) return null;
  return {
    hidden: () => doc.visibilityState === 'hidden',
    onChange(listener) {
      doc.addEventListener('visibilitychange', listener);
      return () => doc.removeEventListener('visibilitychange', listener);
    },
  };
}

/**
 * Run `fn` in a task of its own (a MessageChannel message) in a page, so that a timer it sets is not chained
 * to the timer whose callback called this; elsewhere (Node: no such throttling) at once.
 * @param {() => void} fn
 */
function unchained(fn) {
  if (!(/** @type {any} */ (globalThis).document) || typeof MessageChannel !== 'function') return fn();
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    fn();
  };
  channel.port2.postMessage(null);
}

/** Remembers the last `size` ids (insertion order); memory stays bounded however long the page lives. */
class RecentIds {
  /** @param {number} size */
  constructor(size) {
    this.size = Math.max(0, size | 0);
    /** @type {Set<string>} */
    this.ids = new Set();
  }

  /** true the first time an id is seen, false for a repeat. @param {string} id */
  add(id) {
    if (this.size === 0) return true;
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.size) this.ids.delete(/** @type {string} */ (this.ids.values().next().value));
    return true;
  }
}

/**
 * A client for one Hermes stage. Nothing happens until `connect()`. Tabs share one socket (`share`, on by
 * default) where Web Locks and BroadcastChannel exist; elsewhere (Node, old browsers) each has its own.
 * @param {HermesClientOptions} options
 * @returns {HermesClient}
 */
export function createHermesClient(options) {
  if (options && options.share !== false && sharingAvailable()) return createSharedClient(options, createSocketClient);
  return createSocketClient(options);
}

/**
 * The socket-level client: one WebSocket of its own (what each tab of a shared group runs when it leads).
 * @param {HermesClientOptions} options
 * @returns {HermesClient}
 */
export function createSocketClient(options) {
  const {
    url,
    getToken,
    getGrant,
    keepAliveMs = DEFAULTS.keepAliveMs,
    probeAfterMs = DEFAULTS.probeAfterMs,
    pongTimeoutMs = DEFAULTS.pongTimeoutMs,
    hiddenGraceMs = DEFAULTS.hiddenGraceMs,
    visibility = documentVisibility(),
    connectTimeoutMs = DEFAULTS.connectTimeoutMs,
    dedupSize = DEFAULTS.dedupSize,
    maxRetries = DEFAULTS.maxRetries,
    maxQueued = DEFAULTS.maxQueued,
    maxFrameBytes = DEFAULTS.maxFrameBytes,
    resume = true,
    positions: positionsStore,
    reorderMs = DEFAULTS.reorderMs,
    WebSocketImpl = globalThis.WebSocket,
    onStateChange,
    onError,
    random = Math.random,
  } = options || /** @type {HermesClientOptions} */ ({}); // checked below, with a clear message
  const backoff = { ...DEFAULTS.backoff, ...((options && options.backoff) || {}) };
  if (typeof url !== 'string' || !url) throw new TypeError('createHermesClient: `url` is required');
  if (typeof getToken !== 'function') throw new TypeError('createHermesClient: `getToken` must be a function');
  if (getGrant !== undefined && typeof getGrant !== 'function') {
    throw new TypeError('createHermesClient: `getGrant` must be a function');
  }
  if (typeof WebSocketImpl !== 'function') throw new TypeError('createHermesClient: no WebSocket implementation');
  if (visibility !== null && (typeof visibility?.hidden !== 'function' || typeof visibility?.onChange !== 'function')) {
    throw new TypeError('createHermesClient: `visibility` must have hidden() and onChange(listener), or be null');
  }
  if (
    positionsStore !== undefined &&
    (typeof positionsStore?.load !== 'function' || typeof positionsStore?.save !== 'function')
  ) {
    throw new TypeError('createHermesClient: `positions` must have load() and save(state)');
  }

  /** @typedef {{callback: (message: HermesMessage) => void, source: SourceFilter, room?: string}} Subscription */
  /** @type {Map<string, Set<Subscription>>} type or '*' → subscriptions */
  const subscribers = new Map();
  /** @type {Map<string, Set<(...args: any[]) => void>>} event name → listeners */
  const listeners = new Map();
  const seen = new RecentIds(dedupSize);
  /** @type {WeakSet<object>} join/leave envelopes, recognized before `source` is normalized */
  const presenceEnvelopes = new WeakSet();
  /** @type {string[]} sendMessage frames waiting for a connection */
  const outbox = [];
  const encoder = new TextEncoder();

  /** @type {State} */
  let state = States.IDLE;
  /** @type {WebSocketLike | null} */
  let socket = null;
  let generation = 0; // bumped by close(): a late token or socket from before it is discarded
  let failures = 0; // consecutive attempts that did not give a stable connection
  let openedAt = 0;
  let connectionCount = 0;
  /** @typedef {ReturnType<typeof setTimeout> | null} Timer */
  /** @type {Timer} */
  let retryTimer = null;
  /** @type {Timer} */
  let keepAliveTimer = null;
  /** @type {Timer} */
  let pongTimer = null;
  let lastReceived = 0; // Date.now() of the last frame from the server (or of the open)
  let keepAliveSentAt = 0; // of the last one-way keep-alive: a stage without the route answers it Forbidden
  let keepAliveRoute = 'keepalive'; // 'ping' after such an answer (an older stage)
  /** @type {Timer} */
  let hiddenTimer = null;
  /** @type {(() => void) | null} stops listening to visibility and network events */
  let unwatch = null;
  /** @type {Timer} */
  let connectTimer = null;
  let unanswered = 0; // sendMessage frames sent on this socket that have no answer (sent/refused/error) yet
  /** @type {Array<(opened: boolean) => void>} resolve functions of connect() promises */
  let waiters = [];

  /**
   * One stream's delivery: where the client stands and what waits for a missing position.
   * @typedef {{key: string, epoch: string, position: number, message: HermesMessage}} Held
   * @typedef {object} Track
   * @property {boolean} known  the client has a starting point (a resume answer, the stored state, a delivery)
   * @property {string} epoch
   * @property {number} position  the last position delivered (or passed: a duplicate id still advances it)
   * @property {number} head  the highest position the server said exists in this epoch
   * @property {Map<string, Held>} held  `${epoch}:${position}` → a message that came before its predecessor
   * @property {number} attempts  resumes sent for the current gap
   */
  /** @type {Map<string, Track>} stream → track; in order of the last move (the first is forgotten first) */
  const tracks = new Map();
  let positionsLoaded = false;
  let historyOff = false; // the stage refused resume as history off (404, or no resume route): never again
  let resumePending = false; // a resume was sent on this socket and has no answer yet
  let resumeNeeded = false; // a resume failed: send one again at the next check
  let throttled = false; // the last resume was refused with 429: its retry does not count against a gap
  let resumeFailures = 0; // on this socket
  let positionsMoved = false; // since the last save
  /** @type {Timer} */
  let gapTimer = null;
  /** @type {Timer} */
  let resumeTimer = null;

  // --- events ---------------------------------------------------------------------------------------
  /** @param {unknown} detail an Error, an object with a message (a HermesAuthError look-alike), or text */
  function describe(detail) {
    if (detail instanceof Error) return detail.message;
    if (typeof detail === 'object' && detail !== null && 'message' in detail) return String(detail.message);
    return String(detail);
  }

  /** @param {(...args: any[]) => void} fn @param {...any} args */
  function safeCall(fn, ...args) {
    try {
      fn(...args);
    } catch (err) {
      // an app callback threw: report it, never let it break the client
      if (fn !== onError) report('callback', err);
      else console.error('hermes-client: onError threw', err); // eslint-disable-line no-console
    }
  }

  /** @param {keyof HermesEvents} event @param {...any} args */
  function emit(event, ...args) {
    const set = listeners.get(event);
    if (set) for (const fn of [...set]) safeCall(fn, ...args);
  }

  /** @param {ErrorKind} kind @param {unknown} detail */
  function report(kind, detail) {
    /** @type {HermesError} */
    const error = {
      kind,
      message: describe(detail),
      error: detail instanceof Error ? detail : undefined,
    };
    if (onError) safeCall(onError, error);
    emit('error', error);
  }

  /** @param {State} next @param {Omit<StateDetail, 'previous'>} [detail] */
  function setState(next, detail = {}) {
    if (state === next) return;
    const previous = state;
    state = next;
    if (onStateChange) safeCall(onStateChange, next, { previous, ...detail });
    emit('state', next, { previous, ...detail });
  }

  /** @param {boolean} value */
  function settleWaiters(value) {
    const pending = waiters;
    waiters = [];
    for (const resolve of pending) resolve(value);
  }

  // --- timers ---------------------------------------------------------------------------------------
  /** @param {Timer} timer @returns {null} */
  function clear(timer) {
    if (timer !== null) clearTimeout(timer);
    return null;
  }

  function clearConnectionTimers() {
    abandonJoins(); // their answers can no longer come: the next open joins again
    keepAliveTimer = clear(keepAliveTimer);
    pongTimer = clear(pongTimer);
    connectTimer = clear(connectTimer);
    resumeTimer = clear(resumeTimer);
    resumePending = false;
  }

  function armKeepAlive() {
    keepAliveTimer = clear(keepAliveTimer);
    if (keepAliveMs > 0 && state === States.OPEN) keepAliveTimer = setTimeout(keepAlive, keepAliveMs);
  }

  /** Nothing was sent for keepAliveMs: a one-way frame keeps the idle timer off, or a ping when one is due. */
  function keepAlive() {
    keepAliveTimer = null;
    const probe = pongTimeoutMs > 0 && Date.now() - lastReceived >= probeAfterMs;
    // re-armed from a fresh task in a page: a timer set inside a timer's callback is "chained", and Chrome
    // runs the 5th link of a chain in a tab hidden for 5 minutes only on a 1-minute-aligned wake-up, late
    // enough for API Gateway's 10 minutes to pass (developer.chrome.com/blog/timer-throttling-in-chrome-88)
    unchained(() => {
      if (probe || keepAliveRoute === 'ping') ping();
      else if (rawSend({ action: 'keepalive' })) keepAliveSentAt = Date.now();
    });
  }

  function ping() {
    keepAliveTimer = clear(keepAliveTimer); // also when called by hand: no second timer
    if (!rawSend({ action: 'ping' })) return false;
    if (pongTimeoutMs > 0 && pongTimer === null) {
      const dead = socket;
      pongTimer = setTimeout(() => {
        pongTimer = null;
        if (dead && socket === dead) {
          report('timeout', `no pong within ${pongTimeoutMs} ms; reconnecting`);
          drop(dead, CLOSE_DEAD, 'no pong');
        }
      }, pongTimeoutMs);
    }
    return true;
  }

  // --- connection lifecycle -------------------------------------------------------------------------
  async function attempt() {
    const myGeneration = generation;
    retryTimer = null;
    if (state !== States.RECONNECTING) setState(States.CONNECTING); // a retry stays 'reconnecting' until open
    let token;
    try {
      token = await getToken();
      if (typeof token !== 'string' || !token) throw new Error('getToken() did not return a non-empty string');
    } catch (err) {
      if (myGeneration !== generation) return;
      if (isAuthError(err)) return unauthorized(err);
      report('token', err);
      return scheduleReconnect({ reason: 'token' });
    }
    if (myGeneration !== generation) return; // close() was called while the token was being fetched
    /** @type {WebSocketLike} */
    let ws;
    try {
      ws = new WebSocketImpl(withToken(url, token));
    } catch (err) {
      report('socket', err);
      return scheduleReconnect({ reason: 'socket' });
    }
    socket = ws;
    unanswered = 0;
    if (connectTimeoutMs > 0) {
      connectTimer = setTimeout(() => {
        connectTimer = null;
        if (socket === ws && ws.readyState !== OPEN) {
          report('timeout', `not connected within ${connectTimeoutMs} ms`);
          drop(ws, CLOSE_DEAD, 'connect timeout');
        }
      }, connectTimeoutMs);
    }
    ws.onopen = () => {
      if (socket !== ws) return;
      connectTimer = clear(connectTimer);
      openedAt = Date.now();
      lastReceived = openedAt; // the handshake's answer
      connectionCount += 1;
      resumeFailures = 0;
      resumeNeeded = false;
      setState(States.OPEN, { connection: connectionCount });
      // before the queued messages and the app's `open` listeners: ask for what was missed (after the joined
      // rooms are joined again, so that the resume covers them too)
      if (joined.size) rejoin(ws);
      else if (resuming()) sendResume();
      emit('open', { connection: connectionCount });
      settleWaiters(true);
      flush();
      armKeepAlive();
    };
    ws.onmessage = (event) => {
      if (socket !== ws) return;
      lastReceived = Date.now();
      receive(event.data);
      savePositions();
    };
    ws.onerror = () => {
      // browsers say nothing useful here (and always follow with a close event)
    };
    ws.onclose = (event) => {
      if (socket === ws) lost(event && event.code, event && event.reason);
    };
  }

  /**
   * The server (or the network) ended the connection: reconnect unless close() was called.
   * @param {number | undefined} code @param {string | undefined} reason
   */
  function lost(code, reason) {
    const wasOpen = state === States.OPEN;
    socket = null;
    clearConnectionTimers();
    if (wasOpen && Date.now() - openedAt >= backoff.resetAfterMs) failures = 0;
    emit('close', { code, reason, wasOpen });
    scheduleReconnect({ code, reason });
  }

  /**
   * Abandon a socket (timeout): close it and handle it as lost now, without waiting for its close event.
   * @param {WebSocketLike} ws @param {number} code @param {string} reason
   */
  function drop(ws, code, reason) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
    if (socket === ws) lost(code, reason);
  }

  /**
   * getToken threw HermesAuthError: nobody to connect as. Stop for good, and forget what was queued.
   * @param {unknown} error
   */
  function unauthorized(error) {
    outbox.length = 0; // never send one user's queued messages as whoever logs in next
    report('auth', error);
    setState(States.CLOSED, { reason: 'unauthorized', error });
    emit('unauthorized', { error, message: describe(error) });
    settleWaiters(false);
  }

  // --- hidden pages let go -----------------------------------------------------------------------------
  function watch() {
    if (unwatch) return;
    /** @type {Array<() => void>} */
    const stops = [];
    if (visibility) stops.push(visibility.onChange(visibilityChanged));
    const win = /** @type {any} */ (globalThis);
    if (typeof win.addEventListener === 'function' && win.document) {
      win.addEventListener('online', networkBack);
      stops.push(() => win.removeEventListener('online', networkBack));
    }
    unwatch = () => stops.forEach((stop) => stop());
    visibilityChanged(); // hidden already when connect() is called
  }

  function active() {
    return state === States.CONNECTING || state === States.OPEN || state === States.RECONNECTING;
  }

  function visibilityChanged() {
    if (visibility && visibility.hidden()) {
      if (hiddenGraceMs > 0 && hiddenTimer === null && active()) hiddenTimer = setTimeout(pause, hiddenGraceMs);
      return;
    }
    hiddenTimer = clear(hiddenTimer);
    if (state === States.PAUSED) wake('visible');
    // back after a while: is the socket still alive? (a pong answers within pongTimeoutMs, or it is replaced)
    else if (state === States.OPEN && pongTimeoutMs > 0 && Date.now() - lastReceived >= keepAliveMs) ping();
  }

  /** The browser says the network is back: a socket from before may be dead, a retry may work now. */
  function networkBack() {
    if (state === States.OPEN && pongTimeoutMs > 0) ping();
    else if (state === States.RECONNECTING && retryTimer !== null) {
      retryTimer = clear(retryTimer);
      attempt();
    }
  }

  /** Hidden for hiddenGraceMs: close the socket (nothing queued is dropped), wait to be visible. */
  function pause() {
    hiddenTimer = null;
    if (!active()) return;
    generation += 1; // a token or a socket on its way is discarded
    retryTimer = clear(retryTimer);
    clearConnectionTimers();
    const ws = socket;
    socket = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(CLOSE_NORMAL, 'hidden');
      } catch {
        // already closing
      }
    }
    setState(States.PAUSED, { reason: 'hidden' });
    emit('close', { code: CLOSE_NORMAL, reason: 'hidden', wasOpen: Boolean(ws), byClient: true });
  }

  /** @param {string} reason */
  function wake(reason) {
    failures = 0;
    setState(States.CONNECTING, { reason });
    attempt();
    visibilityChanged(); // still hidden (a send woke it): let go again after the grace
  }

  /** @param {Omit<StateDetail, 'previous'>} detail */
  function scheduleReconnect(detail) {
    failures += 1;
    if (failures > maxRetries) {
      setState(States.CLOSED, { ...detail, gaveUp: true });
      settleWaiters(false);
      return;
    }
    const delay = backoffDelay(failures, backoff, random);
    setState(States.RECONNECTING, { ...detail, attempt: failures, delayMs: delay });
    emit('reconnect', { attempt: failures, delayMs: delay });
    retryTimer = setTimeout(attempt, delay);
  }

  // --- rooms joined with grants ------------------------------------------------------------------------
  /** @type {Map<string, {grant: string | null, expiresAt: number}>} room → its grant (reused until it expires) */
  const joined = new Map();
  /** @type {Map<string, Array<(ok: boolean) => void>>} room → join() promises awaiting its answer */
  const joinWaiters = new Map();
  /**
   * room → its join in flight: what its answer (or its timeout) calls for rejoin's count, and the timer.
   * @type {Map<string, {done: () => void, timer: ReturnType<typeof setTimeout> | null, retries: number}>}
   */
  const joinsInFlight = new Map();
  const MAX_JOIN_RETRIES = 3; // a join answered 503 (conflicting writes on the user's row) is sent again

  /** @param {string} room @param {boolean} ok */
  function settleJoin(room, ok) {
    const waiting = joinWaiters.get(room) ?? [];
    joinWaiters.delete(room);
    for (const resolve of waiting) resolve(ok);
    const flight = joinsInFlight.get(room);
    joinsInFlight.delete(room);
    if (flight) {
      clear(flight.timer);
      flight.done();
    }
  }

  /** The socket went: joins in flight end unanswered (their rooms stay joined, for the next open). */
  function abandonJoins() {
    for (const flight of joinsInFlight.values()) {
      clear(flight.timer);
      flight.done();
    }
    joinsInFlight.clear();
  }

  /** @param {string} room */
  function armJoinTimer(room) {
    const flight = joinsInFlight.get(room);
    if (!flight) return;
    clear(flight.timer);
    flight.timer = setTimeout(() => {
      report('join', `${JSON.stringify(room)}: no answer within ${RESUME_TIMEOUT_MS} ms`);
      settleJoin(room, false);
    }, RESUME_TIMEOUT_MS);
  }

  /** When a grant expires (its JWT's `exp`, in ms), or 0 when it cannot be read. @param {string} grant */
  function grantExpiry(grant) {
    try {
      const part = grant.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const claims = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
      return Number.isFinite(claims.exp) ? claims.exp * 1000 : 0;
    } catch {
      return 0;
    }
  }

  /**
   * Send one join on `ws` (a grant of the room's reused while it has 30 s left, else a fresh one).
   * @param {string} room @param {WebSocketLike} ws @returns {Promise<void>} once answered (or abandoned)
   */
  function sendJoin(room, ws) {
    return new Promise((done) => {
      const entry = joined.get(room);
      if (!entry) return done();
      joinsInFlight.set(room, { done, timer: null, retries: 0 });
      const fresh = entry.grant && entry.expiresAt - Date.now() > 30 * 1000;
      Promise.resolve(fresh ? entry.grant : getGrant?.(room))
        .then((grant) => {
          if (typeof grant !== 'string' || !grant) throw new Error('getGrant() did not return a non-empty string');
          if (socket !== ws || !joined.has(room)) return settleJoin(room, false);
          entry.grant = grant;
          entry.expiresAt = grantExpiry(grant);
          if (!rawSend({ action: 'join', grant })) settleJoin(room, false);
          else armJoinTimer(room);
        })
        .catch((error) => {
          report('join', `getGrant(${JSON.stringify(room)}) failed: ${error?.message ?? error}`);
          settleJoin(room, false);
        });
    });
  }

  /** After an open: join every joined room again, then resume (so the resume covers their streams). @param {WebSocketLike} ws */
  function rejoin(ws) {
    Promise.all([...joined.keys()].map((room) => sendJoin(room, ws))).then(() => {
      if (socket === ws && state === States.OPEN && resuming()) sendResume();
    });
  }

  /** `hermes.joined` / `hermes.left` (a leave's answer, or the backend revoking a room). @param {any} message */
  function roomAnswer(message) {
    const room = typeof message.room === 'string' ? message.room : null;
    if (!room) return report('malformed', `${message.type} without a room`);
    if (message.type === 'hermes.left') {
      if (message.route !== 'leave') joined.delete(room); // revoked: never joined again
      emit('left', { room, reason: message.route === 'leave' ? 'left' : (message.reason ?? 'revoked') });
      return;
    }
    // the heads of the room's streams, read after the room's row was written: later messages come live
    const streams = message.streams !== null && typeof message.streams === 'object' ? message.streams : {};
    for (const [stream, info] of Object.entries(streams)) {
      const track = resume && isStreamPosition(info) ? trackOf(stream) : null;
      if (track && !track.known) start(stream, track, info);
    }
    emit('joined', { room });
    settleJoin(room, true);
  }

  /**
   * A join or leave refused. A refusal names its room whenever the grant could be read; one that cannot
   * (a garbled grant) ends the oldest join in flight, whose room stays joined for the next open.
   * @param {any} message
   */
  function roomRefused(message) {
    if (message.route !== 'join') return refused(message);
    const named = typeof message.room === 'string';
    const room = named ? message.room : [...joinsInFlight.keys()][0];
    const flight = room === undefined ? undefined : joinsInFlight.get(room);
    const entry = room === undefined ? undefined : joined.get(room);
    if (message.status === 503 && flight && entry?.grant && flight.retries < MAX_JOIN_RETRIES && socket) {
      // the user's row was busy (every re-join writes it): the same grant again, after a jittered pause
      flight.retries += 1;
      const ws = socket;
      const grant = entry.grant;
      const wait = Math.min(Number(message.retry_after) || 1, 5) * 1000 * (0.5 + random());
      clear(flight.timer);
      flight.timer = setTimeout(() => {
        if (socket !== ws || !joined.has(room) || !rawSend({ action: 'join', grant })) {
          settleJoin(room, false);
        } else armJoinTimer(room);
      }, wait);
      return;
    }
    refused(message);
    if (room === undefined) return;
    if (named) joined.delete(room); // not re-joined after a reconnect: the app may join() again
    settleJoin(room, false);
  }

  // --- receiving ------------------------------------------------------------------------------------
  /** @param {unknown} raw a frame's data */
  function receive(raw) {
    if (typeof raw !== 'string') {
      report('malformed', 'binary frame ignored');
      return;
    }
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      report('malformed', `frame is not JSON (${raw.length} characters)`);
      return;
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      report('malformed', `frame is not a JSON object (${raw.length} characters)`);
      return;
    }
    // Frames from another client never count as the gateway's or the route's own frames (pong, answers)
    const fromClient = message.source === Sources.CLIENT;
    if (fromClient && isReservedType(message.type)) {
      report('malformed', 'a client message may not use a reserved type (hermes.* or pong)');
      return;
    }
    if (message.type === 'pong') {
      pongTimer = clear(pongTimer);
      emit('pong');
      return;
    }
    // the sendMessage route's answers to this client: events, not notifications
    if (message.type === 'hermes.sent') {
      answered();
      emit('sent', message);
      return;
    }
    if (message.type === 'hermes.joined' || message.type === 'hermes.left') {
      roomAnswer(message);
      return;
    }
    if (message.type === 'hermes.refused' && (message.route === 'join' || message.route === 'leave')) {
      roomRefused(message);
      return;
    }
    if (message.type === 'hermes.refused') {
      // answers name their route; without one (an older stack): the resume's when nothing else awaits an
      // answer (404, history off, is only resume's)
      const resumes =
        message.route === 'resume' ||
        (message.route === undefined && resumePending && (unanswered === 0 || message.status === 404));
      if (resumes) {
        if (resumePending) resumeRefused(message.status, message.error, false, message.retry_after);
      } else {
        answered();
        refused(message);
      }
      return;
    }
    // the resume route's frames: what was missed, then the outcome per stream
    if (message.type === 'hermes.replay') {
      if (!Array.isArray(message.messages)) report('malformed', 'hermes.replay frame without messages');
      else for (const item of message.messages) notification(item, 'replayed');
      return;
    }
    if (message.type === 'hermes.recovery') {
      recoveryAnswer(message);
      return;
    }
    if (typeof message.type !== 'string') {
      // API Gateway's own error frames: {"message": "Forbidden", "connectionId": …, "requestId": …}. Right
      // after a sendMessage it is that message's answer: Forbidden when the stage has no sendMessage route
      // (client messages are off), "Internal server error" when the route's Lambda failed. With only a
      // resume awaiting an answer it is the resume's: Forbidden when the stage has no resume route (history off).
      if (typeof message.message !== 'string') report('malformed', `frame has no type (${raw.length} characters)`);
      else if (resumePending && unanswered === 0) {
        resumeRefused(GATEWAY_STATUS.get(message.message) ?? 502, message.message, true);
      } else if (unanswered > 0) {
        answered();
        refused({
          type: 'hermes.refused',
          status: GATEWAY_STATUS.get(message.message) ?? 502,
          error: message.message,
          gateway: true,
          connectionId: message.connectionId,
          requestId: message.requestId,
        });
      } else if (message.message === 'Forbidden' && keepAliveSentAt && Date.now() - keepAliveSentAt < 30_000) {
        keepAliveRoute = 'ping'; // a stage older than the keepalive route: keep alive with pings instead
        keepAliveSentAt = 0;
      } else report('gateway', message.message);
      return;
    }
    notification(message);
  }

  /**
   * A notification, live or replayed: in position order when it has a place in a stream, else as it comes.
   * @param {any} message @param {string} [how]
   */
  function notification(message, how = 'live') {
    if (message === null || typeof message !== 'object' || Array.isArray(message) || typeof message.type !== 'string') {
      report('malformed', `${how} message is not an object with a type`);
      return;
    }
    const presence = isPresenceEnvelope(message);
    if (how !== 'live' && isReservedType(message.type) && !presence) {
      report('malformed', `${how} message has a reserved type (hermes.* or pong)`);
      return;
    }
    if (presence) presenceEnvelopes.add(message); // it still takes its place in the room's stream
    message.source = normalizeSource(message.source);
    const place = resume ? placeOf(message) : null;
    if (place) accept(place, message);
    else deliver(message);
  }

  /** To the app, unless its id was delivered before (SQS delivers at least once). @param {HermesMessage} message */
  function deliver(message) {
    const { source } = message;
    // the source is part of the key: a client message can never suppress a backend one by reusing its id
    if (message.id !== undefined && message.id !== null && !seen.add(`${source}:${message.id}`)) {
      emit('duplicate', message);
      return;
    }
    if (presenceEnvelopes.has(message)) {
      emit('presence', {
        type: /** @type {'join' | 'leave'} */ (PRESENCE_TYPES.get(message.type)),
        userId: message.data.user_id,
        roomId: message.room_id ?? null,
        id: message.id,
        sentAt: message.sent_at,
      });
      return;
    }
    emit('message', message);
    for (const key of [message.type, '*']) {
      const set = subscribers.get(key);
      if (!set) continue;
      // `source` decided once, above: a subscriber that changes message.source cannot fool the next one
      for (const entry of [...set]) {
        if (entry.room !== undefined && entry.room !== message.room_id) continue;
        if (entry.source === 'any' || entry.source === source) safeCall(entry.callback, message);
      }
    }
  }

  // --- gap-free delivery: positions per stream, reorder buffer, resume -----------------------------------
  /** Resume on this stage? (The app's choice, and the stage has history.) */
  function resuming() {
    return resume && !historyOff;
  }

  /** @param {any} at @returns {boolean} */
  function isStreamPosition(at) {
    if (at === null || typeof at !== 'object') return false;
    const { epoch, position } = at;
    return (
      typeof epoch === 'string' &&
      epoch.length <= MAX_EPOCH_LENGTH &&
      Number.isSafeInteger(position) &&
      position >= 0 &&
      (epoch !== '' || position === 0)
    );
  }

  /** @param {boolean} known @param {string} epoch @param {number} position @returns {Track} */
  function newTrack(known, epoch, position) {
    return { known, epoch, position, head: position, held: new Map(), attempts: 0 };
  }

  /** @param {string} stream @returns {Track} */
  function trackOf(stream) {
    let track = tracks.get(stream);
    if (!track) {
      track = newTrack(false, '', 0);
      tracks.set(stream, track);
    }
    return track;
  }

  /**
   * The message's place in its stream; null without one (history off): then it is delivered as it comes.
   * @param {any} message @returns {{epoch: string, position: number, stream: string} | null}
   */
  function placeOf(message) {
    const { stream, epoch, position } = message;
    if (typeof stream !== 'string' || !stream || typeof epoch !== 'string' || !epoch) return null;
    if (epoch.length > MAX_EPOCH_LENGTH || !Number.isSafeInteger(position) || position < 1) return null;
    return { stream, epoch, position };
  }

  /** Does `epoch` continue the track? A track that saw its stream empty ('', 0) takes any epoch. */
  /** @param {Track} track @param {string} epoch */
  function sameEpoch(track, epoch) {
    return track.epoch === epoch || (track.epoch === '' && track.position === 0);
  }

  /** @param {Track} track */
  function hasGap(track) {
    return track.held.size > 0 || (track.known && track.head > track.position);
  }

  /**
   * A positioned message: delivered if it is the next one, dropped if its position was passed, else held
   * until its predecessors come (live, or replayed by a resume).
   * @param {{stream: string, epoch: string, position: number}} place @param {HermesMessage} message
   */
  function accept(place, message) {
    const { stream } = place;
    const track = trackOf(stream);
    if (track.known && sameEpoch(track, place.epoch)) {
      if (place.position <= track.position) {
        emit('duplicate', message); // replayed and live, or a position delivered before
        return;
      }
      if (place.position === track.position + 1) {
        advance(stream, track, place, message);
        drain(stream, track);
        return;
      }
    }
    const key = `${place.epoch}:${place.position}`;
    if (track.held.has(key)) {
      emit('duplicate', message);
      return;
    }
    track.held.set(key, { key, epoch: place.epoch, position: place.position, message });
    if (track.held.size > MAX_HELD) giveUp(stream, track, `more than ${MAX_HELD} messages waited for a missing one`);
    else armGap();
  }

  /**
   * Move the track to the message's place and deliver it (a repeated id is dropped, its position still counts).
   * @param {string} stream @param {Track} track @param {{epoch: string, position: number}} place
   * @param {HermesMessage} message
   */
  function advance(stream, track, place, message) {
    if (track.epoch !== place.epoch || track.head < place.position) track.head = place.position;
    track.epoch = place.epoch;
    track.position = place.position;
    track.known = true;
    tracks.delete(stream); // the most recently moved stream goes last: the first is forgotten first
    tracks.set(stream, track);
    positionsMoved = true;
    deliver(message);
  }

  /** Deliver what was held and is now next; drop what is behind. @param {string} stream @param {Track} track */
  function drain(stream, track) {
    for (;;) {
      const next = heldAt(track, track.position + 1);
      if (!next) break;
      track.held.delete(next.key);
      advance(stream, track, next, next.message);
    }
    for (const [key, entry] of track.held) {
      if (sameEpoch(track, entry.epoch) && entry.position <= track.position) {
        track.held.delete(key);
        emit('duplicate', entry.message);
      }
    }
    if (!hasGap(track)) track.attempts = 0;
  }

  /** @param {Track} track @param {number} position @returns {Held | undefined} */
  function heldAt(track, position) {
    if (track.epoch !== '') return track.held.get(`${track.epoch}:${position}`);
    for (const entry of track.held.values()) if (entry.position === position) return entry;
    return undefined;
  }

  function armGap() {
    if (gapTimer === null) gapTimer = setTimeout(checkGaps, Math.max(0, reorderMs));
  }

  /** A gap outlived reorderMs: resume to get the missing messages from the history (or give up on it). */
  function checkGaps() {
    gapTimer = null;
    const gaps = [...tracks].filter(([, track]) => hasGap(track));
    if (!resuming()) {
      for (const [stream, track] of gaps) giveUp(stream, track, 'history is off: nothing can replay it');
    } else if (state === States.OPEN && !resumePending && (gaps.length || resumeNeeded)) {
      let ask = resumeNeeded;
      const again = throttled; // the last resume was throttled: this one is its retry, not a new attempt
      throttled = false;
      for (const [stream, track] of gaps) {
        if (again) ask = true;
        else if (track.attempts < MAX_GAP_RESUMES) {
          track.attempts += 1;
          ask = true;
        } else giveUp(stream, track, `still missing after ${MAX_GAP_RESUMES} resumes`);
      }
      if (ask) sendResume();
    }
    // not open: the next open resumes; a resume awaiting its answer: the answer checks again
    savePositions();
  }

  /**
   * Stop waiting: deliver what is held, in order, skipping what is missing, and say so (complete: false).
   * @param {string} stream @param {Track} track @param {string} reason
   */
  function giveUp(stream, track, reason) {
    const rank = (/** @type {Held} */ entry) => (entry.epoch === track.epoch ? 0 : 1);
    const entries = [...track.held.values()].sort((a, b) => rank(a) - rank(b) || a.position - b.position);
    track.held.clear();
    track.known = true;
    for (const entry of entries) {
      if (sameEpoch(track, entry.epoch) && entry.position <= track.position) emit('duplicate', entry.message);
      else advance(stream, track, entry, entry.message);
    }
    track.head = track.position;
    track.attempts = 0;
    positionsMoved = true;
    recovered({ stream, complete: false, replayed: 0, epoch: track.epoch, position: track.position, reason });
  }

  /** @param {RecoveryDetail} detail */
  function recovered(detail) {
    emit('recovery', detail);
    if (!detail.complete) {
      const why = detail.reason ?? 'past the retention, the stream started over, or more than the server replays';
      report('recovery', `${detail.stream}: missed messages cannot be replayed (${why}); refetch your state`);
    }
  }

  /** Ask for what was missed: every stream the client knows, where it stands (none: learn the heads). */
  function sendResume() {
    /** @type {{action: 'resume', streams?: PositionsState}} */
    const body = { action: 'resume' };
    const streams = snapshot();
    if (Object.keys(streams).length) body.streams = streams;
    resumePending = true; // before sending: an answer may come at once
    resumeNeeded = false;
    resumeTimer = clear(resumeTimer);
    resumeTimer = setTimeout(() => {
      resumeTimer = null;
      resumePending = false;
      resumeFailed(`no answer within ${RESUME_TIMEOUT_MS} ms`);
    }, RESUME_TIMEOUT_MS);
    if (!rawSend(body)) {
      resumePending = false; // the socket is going: the next open resumes
      resumeTimer = clear(resumeTimer);
    }
  }

  /** @param {string} why */
  function resumeFailed(why) {
    resumeFailures += 1;
    if (resumeFailures > MAX_RESUME_FAILURES) {
      report('recovery', `resume failed ${resumeFailures} times (${why}); not retried on this connection`);
      return;
    }
    report('recovery', `resume failed (${why}); retrying`);
    resumeNeeded = true;
    armGap();
  }

  /**
   * @param {unknown} status @param {unknown} error @param {boolean} [gateway]
   * @param {unknown} [retryAfter] seconds, with a 429
   */
  function resumeRefused(status, error, gateway = false, retryAfter = undefined) {
    resumePending = false;
    resumeTimer = clear(resumeTimer);
    if (status === 429) {
      // over this connection's resume budget or the stage's throttle: not a failure, and not an attempt at
      // a gap either; ask again later, with jitter (the stage's throttle is shared by every client)
      const seconds = typeof retryAfter === 'number' && retryAfter > 0 && retryAfter <= 3600 ? retryAfter : 10;
      const waitMs = Math.round(seconds * 1000 * (1 + random() * 0.5));
      report('recovery', `resume throttled (${error}); again in ${Math.round(waitMs / 1000)} s`);
      resumeNeeded = true;
      throttled = true;
      gapTimer = clear(gapTimer);
      gapTimer = setTimeout(checkGaps, waitMs);
      return;
    }
    if (status === 404 || (gateway && status === 403)) {
      // history is off on this stage (no resume route): envelopes have no positions; deliver as they come
      historyOff = true;
      if ([...tracks.values()].some(hasGap)) armGap();
      return;
    }
    resumeFailed(`refused (${status}): ${error}`);
  }

  /**
   * `hermes.recovery`: the replay (sent before it) is in; per stream the head, and whether nothing is lost.
   * @param {any} message
   */
  function recoveryAnswer(message) {
    resumePending = false;
    resumeTimer = clear(resumeTimer);
    const streams = message.streams !== null && typeof message.streams === 'object' ? message.streams : {};
    /** @type {RecoveryDetail[]} */
    const details = [];
    let more = false; // the replay stopped at the server's byte budget: resume again for the rest
    for (const [stream, info] of Object.entries(streams)) {
      if (!isStreamPosition(info)) {
        report('malformed', 'hermes.recovery: a stream with a bad state');
        continue;
      }
      const track = trackOf(stream);
      const replayed = Number.isSafeInteger(info.replayed) ? info.replayed : 0;
      let complete = info.complete !== false;
      if (!track.known) start(stream, track, info);
      else if (complete && sameEpoch(track, info.epoch)) {
        if (info.position > track.head) track.head = info.position; // a replay that did not come: a gap
        drain(stream, track);
      } else {
        complete = false;
        restart(stream, track, info);
      }
      const detail = { stream, complete, replayed, epoch: info.epoch, position: info.position };
      if (complete && info.more === true) {
        more = true;
        details.push({ ...detail, more: true });
      } else details.push(detail);
      tracks.delete(stream); // the connection's own streams are never the ones forgotten
      tracks.set(stream, track);
    }
    for (const detail of details) recovered(detail);
    if (more && state === States.OPEN) sendResume(); // a continuation, not a new attempt at a gap
    else if (resumeNeeded || [...tracks.values()].some(hasGap)) armGap();
  }

  /**
   * The first answer for a stream the client knew nothing of: start at its head, or just before the first
   * message that came live while the answer was on its way (what is between is then resumed).
   * @param {string} stream @param {Track} track @param {StreamPosition} info
   */
  function start(stream, track, info) {
    let from = info.position;
    for (const entry of track.held.values()) {
      if (entry.epoch === info.epoch && entry.position <= from) from = entry.position - 1;
    }
    track.known = true;
    track.epoch = info.epoch;
    track.position = from;
    track.head = info.position;
    positionsMoved = true;
    drain(stream, track);
  }

  /**
   * complete: false. The client cannot get what it missed: it delivers what it holds up to the head (in
   * order; those came live), then carries on from the head.
   * @param {string} stream @param {Track} track @param {StreamPosition} info
   */
  function restart(stream, track, info) {
    const early = [...track.held.values()]
      .filter((entry) => entry.epoch === info.epoch && entry.position <= info.position)
      .sort((a, b) => a.position - b.position);
    for (const entry of early) {
      track.held.delete(entry.key);
      if (sameEpoch(track, entry.epoch) && entry.position <= track.position) emit('duplicate', entry.message);
      else advance(stream, track, entry, entry.message);
    }
    for (const [key, entry] of track.held) if (entry.epoch !== info.epoch) track.held.delete(key); // an old numbering
    if (track.epoch !== info.epoch || track.position < info.position) {
      track.epoch = info.epoch;
      track.position = info.position;
    }
    track.head = track.position;
    track.attempts = 0;
    track.known = true;
    positionsMoved = true;
    drain(stream, track);
  }

  /** @returns {PositionsState} */
  function snapshot() {
    /** @type {PositionsState} */
    const state = {};
    for (const [stream, track] of tracks) {
      if (track.known) state[stream] = { epoch: track.epoch, position: track.position };
    }
    return state;
  }

  /** The stored positions, once (by the first connect()). What this client saw itself takes precedence. */
  function loadPositions() {
    if (positionsLoaded || !positionsStore) return;
    positionsLoaded = true;
    let stored;
    try {
      stored = positionsStore.load();
    } catch (err) {
      report('recovery', `positions.load() failed: ${describe(err)}`);
      return;
    }
    if (stored === null || stored === undefined) return;
    if (typeof stored !== 'object' || Array.isArray(stored)) {
      report('recovery', 'positions.load() did not return an object: ignored');
      return;
    }
    for (const [stream, at] of Object.entries(stored)) {
      if (isStreamPosition(at) && !tracks.has(stream)) tracks.set(stream, newTrack(true, at.epoch, at.position));
    }
  }

  /** After a frame (or a timer) that moved positions: forget the oldest streams over the cap, then save. */
  function savePositions() {
    if (!positionsMoved) return;
    positionsMoved = false;
    for (const [stream, track] of tracks) {
      if (tracks.size <= MAX_STREAMS) break;
      if (track.held.size === 0) tracks.delete(stream);
    }
    if (!positionsStore) return;
    try {
      positionsStore.save(snapshot());
    } catch (err) {
      report('recovery', `positions.save() failed: ${describe(err)}`);
    }
  }

  function answered() {
    if (unanswered > 0) unanswered -= 1;
  }

  /** @param {RefusedAnswer} answer */
  function refused(answer) {
    const hint = answer.gateway && answer.status === 403 ? ' (does this stage accept client messages?)' : '';
    report('refused', `sendMessage refused (${answer.status}): ${answer.error}${hint}`);
    emit('refused', answer);
  }

  // --- sending --------------------------------------------------------------------------------------
  /** Send a ping or a resume (an object) or a sendMessage frame (its JSON text, which then awaits an answer). */
  /**
   * @param {string | {action: 'ping' | 'keepalive'} | {action: 'resume', streams?: PositionsState} | {action: 'join', grant: string}
   *   | {action: 'leave', room: string}} body
   */
  function rawSend(body) {
    if (!socket || socket.readyState !== OPEN) return false;
    try {
      socket.send(typeof body === 'string' ? body : JSON.stringify(body));
    } catch (err) {
      report('socket', err);
      return false;
    }
    if (typeof body === 'string') unanswered += 1;
    armKeepAlive(); // anything sent counts as activity for the idle timeout
    return true;
  }

  function flush() {
    while (outbox.length && socket && socket.readyState === OPEN) {
      if (!rawSend(outbox[0])) return;
      outbox.shift();
    }
  }

  // --- public API -----------------------------------------------------------------------------------
  /** @type {HermesClient} */
  const client = {
    /** The current state (see States). */
    get state() {
      return state;
    },

    /**
     * Start (or restart after close()). Resolves true once connected, false if close() is called or
     * reconnecting gives up first. Never rejects.
     */
    connect() {
      const promise = new Promise((resolve) => {
        if (state === States.OPEN) resolve(true);
        else waiters.push(resolve);
      });
      if (state === States.IDLE || state === States.CLOSED) {
        failures = 0;
        if (resume) loadPositions();
        attempt();
        watch();
      } else if (state === States.PAUSED) wake('connect');
      return promise;
    },

    /** Close for good: no reconnect until connect() is called again. Queued sends are dropped. */
    close(code = CLOSE_NORMAL, reason = 'client closed') {
      generation += 1;
      retryTimer = clear(retryTimer);
      hiddenTimer = clear(hiddenTimer);
      if (unwatch) unwatch();
      unwatch = null;
      gapTimer = clear(gapTimer); // positions are kept: connect() resumes from them
      clearConnectionTimers();
      outbox.length = 0;
      const ws = socket;
      socket = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close(code, reason);
        } catch {
          // already closed
        }
      }
      const wasActive = state !== States.IDLE && state !== States.CLOSED;
      setState(States.CLOSED, { code, reason, byClient: true });
      if (wasActive) emit('close', { code, reason, wasOpen: Boolean(ws), byClient: true });
      settleWaiters(false);
    },

    /**
     * Call `callback(message)` for every message of `type` ('*' for every type). Returns unsubscribe.
     * `{ source: 'backend' }` delivers only what your backend published (never what another client sent,
     * nor a message whose source is missing or unknown); `'client'` only what clients sent; `'any'` (the
     * default) everything.
     */
    subscribe(type, callback, { source = 'any', room } = {}) {
      if (typeof type !== 'string' || !type) throw new TypeError('subscribe: type must be a non-empty string');
      if (typeof callback !== 'function') throw new TypeError('subscribe: callback must be a function');
      if (!SUBSCRIBE_SOURCES.has(source)) {
        // a typo must not silently widen the filter to every source
        throw new TypeError(`subscribe: source must be one of ${[...SUBSCRIBE_SOURCES].join(', ')}`);
      }
      const set = subscribers.get(type) ?? new Set();
      subscribers.set(type, set);
      /** @type {Subscription} a new entry each time: the same callback may be subscribed twice */
      if (room !== undefined && (typeof room !== 'string' || !room)) {
        throw new TypeError('subscribe: room must be a non-empty string');
      }
      const entry = { callback, source: /** @type {SourceFilter} */ (source), room };
      set.add(entry);
      return () => {
        const set = subscribers.get(type);
        if (set && set.delete(entry) && set.size === 0) subscribers.delete(type);
      };
    },

    /**
     * Listen to client events: 'state' (state, detail), 'open', 'close', 'reconnect' ({attempt, delayMs}),
     * 'message' (every new envelope, any source), 'duplicate', 'pong', 'error' ({kind, message}),
     * 'unauthorized' ({error, message}: getToken threw HermesAuthError; the client is closed), 'recovery'
     * ({stream, complete, replayed, epoch, position}, per stream after each resume; complete false: what was
     * missed cannot be replayed, refetch your state; also an error of kind 'recovery'), 'presence' ({type:
     * 'join' | 'leave', userId, roomId}: a user arrived or left; presence_events_enabled on), and the
     * answers to sendMessage: 'sent' ({message_id, delivered, gone, failed}) and 'refused' ({status, error},
     * also reported as an error of kind 'refused'; API Gateway's error frame answering a send, e.g.
     * Forbidden when the stage has no sendMessage route, is one too, with `gateway: true`). Returns off().
     */
    on(event, callback) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      const call = /** @type {(...args: any[]) => void} */ (callback);
      /** @param {...any} args */
      const wrapped = (...args) => call(...args); // the same callback may listen twice
      set.add(wrapped);
      return () => {
        listeners.get(event)?.delete(wrapped);
      };
    },

    /**
     * Send to everyone in one of this connection's rooms (`room`; optional when it is in one). The sender
     * comes from the token, server-side.
     * Returns true if sent now, false if queued until the connection is (re)opened (dropped after close()).
     * Throws RangeError over API Gateway's 32 KB frame limit, TypeError for data that is not JSON.
     */
    sendMessage(data, { type, excludeSelf = false, room } = {}) {
      if (data === undefined) throw new TypeError('sendMessage: data is required');
      /** @type {{action: 'sendMessage', data: unknown, type?: string, exclude_self?: true, room?: string}} */
      const body = { action: 'sendMessage', data };
      if (type !== undefined) body.type = type;
      if (room !== undefined) body.room = room;
      if (excludeSelf) body.exclude_self = true;
      const text = JSON.stringify(body); // throws TypeError on cycles / BigInt
      const size = encoder.encode(text).length;
      if (size > maxFrameBytes) {
        throw new RangeError(`sendMessage: message is ${size} bytes, over the ${maxFrameBytes}-byte limit`);
      }
      if (state === States.OPEN && rawSend(text)) return true;
      if (state === States.CLOSED) {
        report('send', 'client is closed: call connect() first; message dropped');
        return false;
      }
      outbox.push(text);
      if (outbox.length > maxQueued) {
        outbox.shift();
        report('send', `more than ${maxQueued} messages queued while disconnected; oldest dropped`);
      }
      if (state === States.PAUSED) wake('send'); // a hidden page that sends wants it delivered now
      return false;
    },

    /** Send a keep-alive ping now (normally automatic). Returns whether it was sent. */
    ping() {
      return state === States.OPEN && ping();
    },

    /** Where the client stands in each stream it knows (history on): {stream: {epoch, position}}, a copy. */
    positions() {
      return snapshot();
    },

    /**
     * Join `room` on this socket with a grant from `getGrant(room)`, now (or at the next open) and after
     * every reconnect until leave(room). Resolves true once joined, false when refused (the 'refused' event
     * says why: another user's grant, expired, revoked, too many rooms). Never rejects.
     */
    join(room) {
      if (typeof room !== 'string' || !room) throw new TypeError('join: room must be a non-empty string');
      if (typeof getGrant !== 'function') throw new TypeError('join: createHermesClient needs `getGrant`');
      if (!joined.has(room)) joined.set(room, { grant: null, expiresAt: 0 });
      return new Promise((resolve) => {
        const waiting = joinWaiters.get(room) ?? [];
        waiting.push(resolve);
        joinWaiters.set(room, waiting);
        if (state === States.OPEN && socket) sendJoin(room, socket);
      });
    },

    /** Leave `room`: its messages stop, and it is not joined again after a reconnect. Whether it was sent. */
    leave(room) {
      if (typeof room !== 'string' || !room) throw new TypeError('leave: room must be a non-empty string');
      joined.delete(room);
      settleJoin(room, false);
      return state === States.OPEN && rawSend({ action: 'leave', room });
    },

    /** The rooms join() added and not left (re-joined after every reconnect). */
    rooms() {
      return [...joined.keys()];
    },
  };
  return client;
}

export default createHermesClient;
