// Hermes browser client: one WebSocket to a Hermes stage (API Gateway), typed subscribers, automatic
// reconnect with a fresh token, keep-alive pings and de-duplication by message id.
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
// What this client sends: {"action":"sendMessage","data":…,"type"?:…,"exclude_self"?:true} and
// {"action":"ping"} (answered by the stage itself with {"type":"pong"}).

// --- types (JSDoc; `hermes-client.d.ts` is generated from them: `make js-types`) ---------------------------

/** @typedef {'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'} State */
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
 *   } ErrorKind
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
 * @property {string} [reason]  e.g. 'unauthorized' (getToken threw HermesAuthError), 'token', 'socket'
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
 * @property {(error: HermesError) => void} error
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {SourceFilter} [source='any']  `'backend'`: only what your backend published
 */

/**
 * @typedef {object} SendOptions
 * @property {string} [type]  the message type (the server's default when omitted); not `pong` or `hermes.*`
 * @property {boolean} [excludeSelf=false]  not to this connection itself
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
 *   throw HermesAuthError when nobody is signed in (the client stops), any other error is retried
 * @property {number} [keepAliveMs=300000]  ping after this long without sending anything; 0 disables
 * @property {number} [pongTimeoutMs=30000]  reconnect if a ping gets no pong in time; 0 disables
 * @property {BackoffOptions} [backoff]
 * @property {number} [maxRetries=Infinity]  consecutive failed attempts before giving up (state 'closed')
 * @property {number} [connectTimeoutMs=15000]
 * @property {number} [dedupSize=1000]  how many message ids are remembered to drop duplicates
 * @property {number} [maxQueued=100]  sendMessage calls kept while disconnected (oldest dropped)
 * @property {number} [maxFrameBytes=32768]  bigger messages throw RangeError (API Gateway's frame limit)
 * @property {WebSocketConstructor} [WebSocketImpl=globalThis.WebSocket]
 * @property {(state: State, detail: StateDetail) => void} [onStateChange]
 * @property {(error: HermesError) => void} [onError]
 * @property {() => number} [random=Math.random]  jitter source (tests)
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
 */

/**
 * Connection states, in the order a healthy client goes through them.
 * @type {Readonly<{
 *   IDLE: 'idle', CONNECTING: 'connecting', OPEN: 'open', RECONNECTING: 'reconnecting', CLOSED: 'closed'
 * }>}
 */
export const States = Object.freeze({
  IDLE: 'idle', // created, connect() not called yet
  CONNECTING: 'connecting', // fetching a token / opening the socket
  OPEN: 'open', // connected; messages flow
  RECONNECTING: 'reconnecting', // the connection was lost; waiting for the next attempt
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

/** API Gateway's error frames answering a sendMessage, as the status of a `refused` event. */
const GATEWAY_STATUS = new Map([['Forbidden', 403]]);

const DEFAULTS = Object.freeze({
  keepAliveMs: 5 * 60 * 1000, // API Gateway closes connections idle for 10 minutes
  pongTimeoutMs: 30 * 1000, // no pong in time: the connection is dead (half-open TCP), reconnect
  connectTimeoutMs: 15 * 1000,
  dedupSize: 1000,
  maxRetries: Infinity,
  maxQueued: 100,
  maxFrameBytes: 32 * 1024, // API Gateway closes the connection (1009) on a bigger frame
  backoff: Object.freeze({ baseMs: 1000, maxMs: 30 * 1000, resetAfterMs: 10 * 1000 }),
});

const OPEN = 1; // WebSocket.OPEN, the same for every implementation
const CLOSE_NORMAL = 1000;
const CLOSE_DEAD = 4000; // our own code: no pong / connect timeout (4000-4999 are for applications)

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
 * A client for one Hermes stage. Nothing happens until `connect()`.
 * @param {HermesClientOptions} options
 * @returns {HermesClient}
 */
export function createHermesClient(options) {
  const {
    url,
    getToken,
    keepAliveMs = DEFAULTS.keepAliveMs,
    pongTimeoutMs = DEFAULTS.pongTimeoutMs,
    connectTimeoutMs = DEFAULTS.connectTimeoutMs,
    dedupSize = DEFAULTS.dedupSize,
    maxRetries = DEFAULTS.maxRetries,
    maxQueued = DEFAULTS.maxQueued,
    maxFrameBytes = DEFAULTS.maxFrameBytes,
    WebSocketImpl = globalThis.WebSocket,
    onStateChange,
    onError,
    random = Math.random,
  } = options || /** @type {HermesClientOptions} */ ({}); // checked below, with a clear message
  const backoff = { ...DEFAULTS.backoff, ...((options && options.backoff) || {}) };
  if (typeof url !== 'string' || !url) throw new TypeError('createHermesClient: `url` is required');
  if (typeof getToken !== 'function') throw new TypeError('createHermesClient: `getToken` must be a function');
  if (typeof WebSocketImpl !== 'function') throw new TypeError('createHermesClient: no WebSocket implementation');

  /** @typedef {{callback: (message: HermesMessage) => void, source: SourceFilter}} Subscription */
  /** @type {Map<string, Set<Subscription>>} type or '*' → subscriptions */
  const subscribers = new Map();
  /** @type {Map<string, Set<(...args: any[]) => void>>} event name → listeners */
  const listeners = new Map();
  const seen = new RecentIds(dedupSize);
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
  /** @type {Timer} */
  let connectTimer = null;
  let unanswered = 0; // sendMessage frames sent on this socket that have no answer (sent/refused/error) yet
  /** @type {Array<(opened: boolean) => void>} resolve functions of connect() promises */
  let waiters = [];

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
    keepAliveTimer = clear(keepAliveTimer);
    pongTimer = clear(pongTimer);
    connectTimer = clear(connectTimer);
  }

  function armKeepAlive() {
    keepAliveTimer = clear(keepAliveTimer);
    if (keepAliveMs > 0 && state === States.OPEN) keepAliveTimer = setTimeout(ping, keepAliveMs);
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
      connectionCount += 1;
      setState(States.OPEN, { connection: connectionCount });
      emit('open', { connection: connectionCount });
      settleWaiters(true);
      flush();
      armKeepAlive();
    };
    ws.onmessage = (event) => {
      if (socket === ws) receive(event.data);
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
      report('malformed', `frame is not JSON: ${raw.slice(0, 200)}`);
      return;
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      report('malformed', `frame is not a JSON object: ${raw.slice(0, 200)}`);
      return;
    }
    // Frames from another client never count as the gateway's or the route's own frames (pong, answers)
    const fromClient = message.source === Sources.CLIENT;
    if (fromClient && isReservedType(message.type)) {
      report('malformed', `a client message may not use the reserved type ${String(message.type).slice(0, 64)}`);
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
    if (message.type === 'hermes.refused') {
      answered();
      refused(message);
      return;
    }
    if (typeof message.type !== 'string') {
      // API Gateway's own error frames: {"message": "Forbidden", "connectionId": …, "requestId": …}. Right
      // after a sendMessage it is that message's answer: Forbidden when the stage has no sendMessage route
      // (client messages are off), "Internal server error" when the route's Lambda failed.
      if (typeof message.message !== 'string') report('malformed', `frame has no type: ${raw.slice(0, 200)}`);
      else if (unanswered > 0) {
        answered();
        refused({
          type: 'hermes.refused',
          status: GATEWAY_STATUS.get(message.message) ?? 502,
          error: message.message,
          gateway: true,
          connectionId: message.connectionId,
          requestId: message.requestId,
        });
      } else report('gateway', message.message);
      return;
    }
    const source = normalizeSource(message.source);
    message.source = source;
    // the source is part of the key: a client message can never suppress a backend one by reusing its id
    if (message.id !== undefined && message.id !== null && !seen.add(`${source}:${message.id}`)) {
      emit('duplicate', message);
      return;
    }
    emit('message', message);
    for (const key of [message.type, '*']) {
      const set = subscribers.get(key);
      if (!set) continue;
      // `source` decided once, above: a subscriber that changes message.source cannot fool the next one
      for (const entry of [...set]) {
        if (entry.source === 'any' || entry.source === source) safeCall(entry.callback, message);
      }
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
  /** Send a ping (an object) or a sendMessage frame (its JSON text, which then awaits an answer). */
  /** @param {string | {action: 'ping'}} body */
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
        attempt();
      }
      return promise;
    },

    /** Close for good: no reconnect until connect() is called again. Queued sends are dropped. */
    close(code = CLOSE_NORMAL, reason = 'client closed') {
      generation += 1;
      retryTimer = clear(retryTimer);
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
    subscribe(type, callback, { source = 'any' } = {}) {
      if (typeof type !== 'string' || !type) throw new TypeError('subscribe: type must be a non-empty string');
      if (typeof callback !== 'function') throw new TypeError('subscribe: callback must be a function');
      if (!SUBSCRIBE_SOURCES.has(source)) {
        // a typo must not silently widen the filter to every source
        throw new TypeError(`subscribe: source must be one of ${[...SUBSCRIBE_SOURCES].join(', ')}`);
      }
      const set = subscribers.get(type) ?? new Set();
      subscribers.set(type, set);
      /** @type {Subscription} a new entry each time: the same callback may be subscribed twice */
      const entry = { callback, source: /** @type {SourceFilter} */ (source) };
      set.add(entry);
      return () => {
        const set = subscribers.get(type);
        if (set && set.delete(entry) && set.size === 0) subscribers.delete(type);
      };
    },

    /**
     * Listen to client events: 'state' (state, detail), 'open', 'close', 'reconnect' ({attempt, delayMs}),
     * 'message' (every new envelope, any source), 'duplicate', 'pong', 'error' ({kind, message}),
     * 'unauthorized' ({error, message}: getToken threw HermesAuthError; the client is closed), and the
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
     * Send to everyone in this connection's room (the room and sender come from the token, server-side).
     * Returns true if sent now, false if queued until the connection is (re)opened (dropped after close()).
     * Throws RangeError over API Gateway's 32 KB frame limit, TypeError for data that is not JSON.
     */
    sendMessage(data, { type, excludeSelf = false } = {}) {
      if (data === undefined) throw new TypeError('sendMessage: data is required');
      /** @type {{action: 'sendMessage', data: unknown, type?: string, exclude_self?: true}} */
      const body = { action: 'sendMessage', data };
      if (type !== undefined) body.type = type;
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
      return false;
    },

    /** Send a keep-alive ping now (normally automatic). Returns whether it was sent. */
    ping() {
      return state === States.OPEN && ping();
    },
  };
  return client;
}

export default createHermesClient;
