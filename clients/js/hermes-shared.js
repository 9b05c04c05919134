// Hermes browser client, shared across tabs: the tabs of one origin that create a client for the same stage
// share ONE WebSocket. One tab, the leader, holds a Web Lock (`navigator.locks.request`) for as long as it
// leads and runs the socket client; every tab (the leader's too) talks to it over a BroadcastChannel and
// filters what it gets with its own subscriptions. When the leader's lock is released (its tab closed, or it
// called close()), the next tab waiting for the lock takes over: it opens its own socket and resumes from
// the positions of what the group already delivered (each tab keeps them, from the leader's broadcasts), so
// nothing is lost; what the takeover delivers twice is dropped by id in each tab.
//
// No SharedWorker: Android Chrome has none, a SharedWorker's socket survives no better than a tab's, and a
// worker would need a second file served from the app's origin. Web Locks + BroadcastChannel exist in every
// current browser (Chrome/Edge 69+/54+, Firefox 96+, Safari 15.4+), Android included.
//
// Used by createHermesClient (hermes-client.js) when `share` is not false and both APIs exist; it is given
// the socket-level factory as a parameter, so this module imports nothing from hermes-client.js at run time.
//
// On the channel (structured-cloned objects, `t` their kind; `to` a tab id when meant for one tab):
//   any tab → leader: hello {from, hidden, rooms}, bye, vis {hidden}, send {req, data, options},
//                     join {req, room, grant}, leave {room}, ping, connect, grant {req, grant | error}
//   leader → tabs:    leader {id}, sync {to, state, group}, state {state, detail}, msg {message},
//                     event {name, args, to?, room?}, positions {state}, group {group}, ack {to, req},
//                     joinResult {to, req, ok}, grantReq {to, req, room}
// Each tab also holds a lock of its own (`<key>#tab:<id>`) for its life; the leader waits on it, so it
// learns when a tab is gone (closed, crashed, navigated away) without any goodbye message.

// The types this module needs of hermes-client.js's, written structurally: importing them would make the
// committed hermes-client.d.ts an input of its own generation.
/** @typedef {string} State  the socket client's states ('idle', 'connecting', 'open', …), mirrored as they come */
/** @typedef {Record<string, {epoch: string, position: number}>} PositionsState */
/** @typedef {Record<string, any> & {type: string, source: string, id?: string, room_id?: string | null}} HermesMessage */
/** @typedef {'backend' | 'client' | 'unknown' | 'any'} SourceFilter */

/**
 * The options createHermesClient takes (HermesClientOptions in hermes-client.js); these are the ones read here.
 * @typedef {Record<string, any> & {
 *   url: string,
 *   share?: boolean | string,
 *   getGrant?: (room: string) => (string | Promise<string>),
 *   onStateChange?: (state: any, detail: any) => void,
 *   onError?: (error: any) => void,
 *   dedupSize?: number,
 *   maxFrameBytes?: number,
 *   positions?: {load: () => any, save: (state: any) => void},
 * }} SharedOptions
 */

/**
 * A client as this module uses the socket client and builds its own (HermesClient in hermes-client.js).
 * @typedef {object} ClientShape
 * @property {State} state
 * @property {() => Promise<boolean>} connect
 * @property {(code?: number, reason?: string) => void} close
 * @property {(type: string, callback: (message: any) => void, options?: {source?: string, room?: string}) => () => void} subscribe
 * @property {(event: string, callback: (...args: any[]) => void) => () => void} on
 * @property {(data: unknown, options?: {type?: string, excludeSelf?: boolean, room?: string}) => boolean} sendMessage
 * @property {() => boolean} ping
 * @property {() => PositionsState} positions
 * @property {(room: string) => Promise<boolean>} join
 * @property {(room: string) => boolean} leave
 * @property {() => string[]} rooms
 */

/**
 * What the sharing layer needs of its surroundings (the browser's by default; fakes in tests).
 * @typedef {object} SharedEnv
 * @property {{request: (name: string, options: {signal?: AbortSignal}, callback: () => Promise<void> | void) => Promise<unknown>}} [locks]
 * @property {new (name: string) => ChannelLike} [BroadcastChannel]
 * @property {{visibilityState?: string, addEventListener?: (type: string, listener: () => void) => void,
 *   removeEventListener?: (type: string, listener: () => void) => void}} [document]
 */

/**
 * @typedef {object} ChannelLike
 * @property {(message: any) => void} postMessage
 * @property {((event: {data: any}) => void) | null} onmessage
 * @property {() => void} close
 */

/**
 * The socket client's `visibility` option (hermes-client.js, "hidden tabs let go"): hidden only when every
 * tab of the group is hidden.
 * @typedef {object} SharedVisibility
 * @property {() => boolean} hidden
 * @property {(listener: () => void) => () => void} onChange
 */

const SOURCES = new Set(['backend', 'client', 'unknown', 'any']);
const GRANT_ASK_MS = 10 * 1000; // a leader without getGrant asks a tab of the room for a grant this long

/** The browser's APIs, or undefined where they are missing (Node, old browsers). @returns {SharedEnv} */
export function browserEnv() {
  const g = /** @type {any} */ (globalThis);
  return { locks: g.navigator?.locks, BroadcastChannel: g.BroadcastChannel, document: g.document };
}

/** Can tabs share a socket here? Web Locks and BroadcastChannel both. @param {SharedEnv} [env] */
export function sharingAvailable(env = browserEnv()) {
  return Boolean(env.locks && typeof env.locks.request === 'function' && typeof env.BroadcastChannel === 'function');
}

/**
 * The name tabs of one group share (locks and channel): the stage URL (two stages never share), and the
 * app's own group name when `share` is a string (e.g. one per signed-in user).
 * @param {string} url @param {boolean | string | undefined} share
 */
export function groupKey(url, share) {
  return `hermes-shared:${url}${typeof share === 'string' && share ? `#${share}` : ''}`;
}

/** Only JSON-able values cross the channel (an Error becomes {name, message}). @param {unknown} value */
function plain(value) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(
      JSON.stringify(value, (_key, v) => (v instanceof Error ? { name: v.name, message: v.message } : v)),
    );
  } catch {
    return String(value);
  }
}

function newId() {
  const c = /** @type {any} */ (globalThis).crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** @param {unknown} err */
function ignoreAbort(err) {
  if (!(err && typeof err === 'object' && /** @type {any} */ (err).name === 'AbortError')) throw err;
}

/**
 * A client whose tabs share one socket: the same interface as the socket client (README "One socket per
 * browser" says what a follower tab sees).
 * @template C  the socket client's type (HermesClient)
 * @param {SharedOptions} options
 * @param {(options: any) => C} createSocketClient  the socket-level factory (hermes-client.js's createSocketClient)
 * @param {SharedEnv} [env]  the browser's APIs (tests pass fakes)
 * @returns {C}
 */
export function createSharedClient(options, createSocketClient, env = browserEnv()) {
  createSocketClient(options); // checks the options (the same TypeErrors); it does nothing until connect()
  const { url, getGrant, onStateChange, onError, dedupSize = 1000, maxFrameBytes = 32 * 1024 } = options;
  const appStore = options.positions;
  const key = groupKey(url, options.share);
  const locks = /** @type {NonNullable<SharedEnv['locks']>} */ (env.locks);
  const Channel = /** @type {NonNullable<SharedEnv['BroadcastChannel']>} */ (env.BroadcastChannel);
  const doc = env.document;
  const encoder = new TextEncoder();

  /** @typedef {{callback: (message: HermesMessage) => void, source: SourceFilter, room?: string}} Subscription */
  /** @type {Map<string, Set<Subscription>>} */
  const subscribers = new Map();
  /** @type {Map<string, Set<(...args: any[]) => void>>} */
  const listeners = new Map();
  /** @type {Set<string>} ids (`source:id`) delivered in this tab, oldest first */
  const seenIds = new Set();
  /** @type {Set<string>} rooms this tab joined */
  const myRooms = new Set();
  /** @type {Map<number, any>} requests to the leader not acknowledged yet (sent again to a new leader) */
  const pending = new Map();
  /** @type {Map<number, (ok: boolean) => void>} */
  const joinWaiters = new Map();
  /** @type {Array<(opened: boolean) => void>} */
  let waiters = [];
  let reqCounter = 0;

  /**
   * This tab's copy of the group (kept from the leader's broadcasts): what a new leader starts from.
   * @type {{positions: PositionsState, rooms: Record<string, string[]>, tokenRooms: string[], tabs: Record<string, boolean>}}
   */
  let group = { positions: {}, rooms: {}, tokenRooms: [], tabs: {} };

  /** @type {State} */
  let state = 'idle';
  /**
   * One membership of the group, from connect() to close().
   * @typedef {object} Session
   * @property {string} id  this tab's id in the group
   * @property {ChannelLike} channel
   * @property {AbortController} abort  ends the lock requests still waiting
   * @property {string | null} leaderId
   * @property {Hub | null} hub  set while this tab leads
   * @property {(() => void) | null} releaseTab
   * @property {(() => void) | null} releaseLeader
   * @property {boolean} wasOpen
   */
  /** @type {Session | null} */
  let session = null;

  // --- this tab's events ------------------------------------------------------------------------------
  /** @param {(...args: any[]) => void} fn @param {...any} args */
  function safeCall(fn, ...args) {
    try {
      fn(...args);
    } catch (err) {
      if (fn !== onError) report('callback', err);
      else console.error('hermes-client: onError threw', err); // eslint-disable-line no-console
    }
  }

  /** @param {string} event @param {...any} args */
  function emit(event, ...args) {
    const set = listeners.get(event);
    if (set) for (const fn of [...set]) safeCall(fn, ...args);
  }

  /** @param {any} error {kind, message} */
  function reportError(error) {
    if (onError) safeCall(onError, error);
    emit('error', error);
  }

  /** @param {string} kind @param {unknown} detail */
  function report(kind, detail) {
    const message = detail instanceof Error ? detail.message : String(/** @type {any} */ (detail)?.message ?? detail);
    reportError({ kind, message, error: detail instanceof Error ? detail : undefined });
  }

  /** @param {State} next @param {any} [detail] */
  function setState(next, detail = {}) {
    if (state === next) return;
    const previous = state;
    state = next;
    if (session && next === 'open') session.wasOpen = true;
    const full = { ...detail, previous };
    if (onStateChange) safeCall(onStateChange, next, full);
    emit('state', next, full);
    if (next === 'open') settleWaiters(true);
    else if (next === 'closed') settleWaiters(false);
  }

  /** @param {boolean} value */
  function settleWaiters(value) {
    const pendingWaiters = waiters;
    waiters = [];
    for (const resolve of pendingWaiters) resolve(value);
  }

  /** Does a message of `room` reach this tab? Rooms joined by other tabs only (not the token's) do not. */
  /** @param {unknown} room */
  function roomVisible(room) {
    if (typeof room !== 'string') return true;
    if (myRooms.has(room) || group.tokenRooms.includes(room)) return true;
    return !(room in group.rooms);
  }

  /** A notification from the shared socket, to this tab's subscribers (once per id). @param {any} message */
  function deliver(message) {
    const { stream, epoch, position } = message;
    if (typeof stream === 'string' && typeof epoch === 'string' && Number.isSafeInteger(position)) {
      const at = group.positions[stream];
      if (!at || at.epoch !== epoch || at.position < position) group.positions[stream] = { epoch, position };
    }
    if (!roomVisible(message.room_id)) return;
    if (message.id !== undefined && message.id !== null) {
      const id = `${message.source}:${message.id}`;
      if (seenIds.has(id)) {
        emit('duplicate', message);
        return;
      }
      seenIds.add(id);
      if (seenIds.size > Math.max(0, dedupSize)) seenIds.delete(/** @type {string} */ (seenIds.values().next().value));
    }
    emit('message', message);
    for (const type of [message.type, '*']) {
      const set = subscribers.get(type);
      if (!set) continue;
      for (const entry of [...set]) {
        if (entry.room !== undefined && entry.room !== message.room_id) continue;
        if (entry.source === 'any' || entry.source === message.source) safeCall(entry.callback, message);
      }
    }
  }

  /** An event the leader's socket client emitted, as this tab sees it. @param {string} name @param {any[]} args */
  function localEvent(name, args) {
    const [detail] = args;
    if (name === 'error') return reportError(detail);
    if (name === 'refused') {
      const hint = detail.gateway && detail.status === 403 ? ' (does this stage accept client messages?)' : '';
      report('refused', `sendMessage refused (${detail.status}): ${detail.error}${hint}`);
      if (detail.route === 'join' && typeof detail.room === 'string') myRooms.delete(detail.room);
    }
    if (name === 'left' && detail.reason === 'revoked') myRooms.delete(detail.room);
    emit(name, ...args);
  }

  // --- the channel ------------------------------------------------------------------------------------
  /** @param {Session} s @param {any} message */
  function post(s, message) {
    try {
      s.channel.postMessage(message);
    } catch (err) {
      report('socket', `BroadcastChannel: ${/** @type {any} */ (err)?.message ?? err}`);
    }
  }

  /** A request for the leader: handled here when this tab leads, else posted. @param {any} message */
  function toLeader(message) {
    const s = session;
    if (!s) return undefined;
    if (s.hub) return s.hub.handle(message);
    post(s, message);
    return undefined;
  }

  /** What this tab asked and was not answered: to the (new) leader. @param {Session} s */
  function resend(s) {
    for (const request of pending.values()) post(s, { ...request, from: s.id });
  }

  /** @param {Session} s */
  function hello(s) {
    post(s, { t: 'hello', from: s.id, hidden: isHidden(), rooms: [...myRooms] });
  }

  /** What this tab gets from the channel (and, in the leader's tab, what its hub broadcasts). @param {any} m */
  function receive(m) {
    const s = session;
    if (!s || m === null || typeof m !== 'object') return;
    if (s.hub && s.hub.accepts(m)) {
      s.hub.handle(m);
      return;
    }
    if (m.to !== undefined && m.to !== s.id && !(Array.isArray(m.to) && m.to.includes(s.id))) return;
    switch (m.t) {
      case 'leader':
        s.leaderId = m.id;
        if (m.id !== s.id) {
          hello(s); // the new leader learns this tab, its rooms and visibility
          resend(s);
        }
        break;
      case 'sync':
        s.leaderId = m.leader;
        group = m.group;
        setState(m.state, { shared: 'follower' });
        break;
      case 'state':
        setState(m.state, m.detail);
        break;
      case 'group':
        group = { ...m.group, positions: group.positions };
        break;
      case 'positions':
        group.positions = m.state;
        break;
      case 'msg':
        deliver(m.message);
        break;
      case 'event':
        if (m.room !== undefined && !roomVisible(m.room)) break;
        localEvent(m.name, m.args);
        break;
      case 'ack':
        pending.delete(m.req);
        break;
      case 'joinResult': {
        pending.delete(m.req);
        const resolve = joinWaiters.get(m.req);
        joinWaiters.delete(m.req);
        if (!m.ok && resolve) myRooms.delete(m.room);
        resolve?.(Boolean(m.ok));
        break;
      }
      case 'grantReq':
        answerGrant(s, m);
        break;
      default:
        break;
    }
  }

  /** The leader (without getGrant of its own) asks this tab for a grant to re-join a room. @param {Session} s @param {any} m */
  function answerGrant(s, m) {
    Promise.resolve()
      .then(() => /** @type {NonNullable<typeof getGrant>} */ (getGrant)(m.room))
      .then(
        (grant) => toLeader({ t: 'grant', from: s.id, req: m.req, grant }),
        (error) => toLeader({ t: 'grant', from: s.id, req: m.req, error: String(error?.message ?? error) }),
      );
  }

  function isHidden() {
    return doc?.visibilityState === 'hidden';
  }

  function onVisibility() {
    const s = session;
    if (s) toLeader({ t: 'vis', from: s.id, hidden: isHidden() });
  }

  // --- membership -------------------------------------------------------------------------------------
  function start() {
    /** @type {Session} */
    const s = {
      id: newId(),
      channel: new Channel(key),
      abort: new AbortController(),
      leaderId: null,
      hub: null,
      releaseTab: null,
      releaseLeader: null,
      wasOpen: false,
    };
    session = s;
    s.channel.onmessage = (event) => {
      if (session === s) receive(event.data);
    };
    doc?.addEventListener?.('visibilitychange', onVisibility);
    setState('connecting');
    const { signal } = s.abort;
    locks
      .request(`${key}#tab:${s.id}`, { signal }, () => {
        if (session !== s) return undefined;
        hello(s);
        resend(s); // join()s made before connect()
        locks
          .request(`${key}#leader`, { signal }, () => {
            if (session !== s) return undefined;
            return new Promise((release) => {
              s.releaseLeader = () => release(undefined);
              lead(s);
            });
          })
          .catch(ignoreAbort);
        return new Promise((release) => {
          s.releaseTab = () => release(undefined);
        });
      })
      .catch(ignoreAbort);
  }

  /** Leave the group: this tab's locks and channel go (a leader's socket first). @param {Session} s */
  function stop(s) {
    session = null;
    doc?.removeEventListener?.('visibilitychange', onVisibility);
    if (s.hub) s.hub.stop();
    else post(s, { t: 'bye', from: s.id });
    s.abort.abort();
    s.releaseLeader?.();
    s.releaseTab?.();
    try {
      s.channel.close();
    } catch {
      // already closed
    }
  }

  // --- the leader: the socket client and what the group asks of it -------------------------------------
  /**
   * @typedef {object} Hub
   * @property {(m: any) => boolean} accepts  is this a request for the leader?
   * @property {(m: any) => any} handle
   * @property {() => void} stop
   */

  /** This tab won the leader lock: run the socket client for the group. @param {Session} s */
  function lead(s) {
    /** @type {Map<string, {hidden: boolean}>} tab → what it reported */
    const tabs = new Map();
    /** @type {Map<string, Set<string>>} room → the tabs that joined it */
    const rooms = new Map();
    let tokenRooms = new Set(group.tokenRooms);
    /** @type {Array<string>} the tab of each sendMessage sent, in order: its answer goes back to it */
    const answerTo = [];
    /** @type {Array<{to: string, req: number}>} sends queued in the socket client, acknowledged once flushed */
    let queued = [];
    /** @type {Map<string, string>} room → a grant a tab sent with its join */
    const grants = new Map();
    /** @type {Map<number, {resolve: (grant: string) => void, reject: (error: Error) => void}>} */
    const grantAsks = new Map();
    /** @type {Map<string, Promise<boolean>>} rooms being joined on the socket */
    const joining = new Map();
    /** @type {Set<string>} rooms joined on the socket (answered) */
    const joinedRooms = new Set();
    /** @type {Set<() => void>} */
    const visibilityListeners = new Set();
    const watching = new AbortController();
    /** @type {Array<() => void>} */
    const offs = [];
    let lastHidden = false;
    let learning = false; // the first resume answer after an open without joined rooms: the token's rooms
    /** @type {Set<string>} */
    let learned = new Set();
    let stopped = false;

    /** @param {any} message */
    function broadcast(message) {
      post(s, message);
      receive(message); // this tab too (a channel never delivers to its sender)
    }

    function groupState() {
      return {
        positions: { ...group.positions },
        rooms: Object.fromEntries([...rooms].map(([room, ids]) => [room, [...ids]])),
        tokenRooms: [...tokenRooms],
        tabs: Object.fromEntries([...tabs].map(([id, tab]) => [id, tab.hidden])),
      };
    }

    function groupChanged() {
      broadcast({ t: 'group', group: groupState() });
    }

    /** @type {SharedVisibility} */
    const visibility = {
      hidden: () => tabs.size > 0 && [...tabs.values()].every((tab) => tab.hidden),
      onChange(listener) {
        visibilityListeners.add(listener);
        return () => {
          visibilityListeners.delete(listener);
        };
      },
    };

    function visibilityMaybeChanged() {
      const now = visibility.hidden();
      if (now === lastHidden) return;
      lastHidden = now;
      for (const listener of [...visibilityListeners]) safeCall(listener);
    }

    /** @param {string} id @param {boolean} hidden */
    function addTab(id, hidden) {
      const known = tabs.get(id);
      tabs.set(id, { hidden });
      if (!known && id !== s.id) {
        // granted when the tab is gone: it holds its own lock for its whole life
        locks
          .request(`${key}#tab:${id}`, { signal: watching.signal }, () => {
            if (!stopped) removeTab(id);
          })
          .catch(ignoreAbort);
      }
    }

    /** @param {string} id */
    function removeTab(id) {
      if (!tabs.delete(id)) return;
      for (const [room, ids] of rooms) {
        if (ids.delete(id) && ids.size === 0) leaveRoom(room);
      }
      visibilityMaybeChanged();
      groupChanged();
    }

    /** @param {string} room @param {string} id */
    function roomTabs(room, id) {
      const ids = rooms.get(room) ?? new Set();
      rooms.set(room, ids);
      ids.add(id);
    }

    /** @param {string} room */
    function leaveRoom(room) {
      rooms.delete(room);
      joinedRooms.delete(room);
      joining.delete(room);
      client.leave(room);
    }

    /** Join `room` on the socket once, whoever asks. @param {string} room @returns {Promise<boolean>} */
    function joinRoom(room) {
      if (joinedRooms.has(room)) return Promise.resolve(true);
      const inFlight = joining.get(room);
      if (inFlight) return inFlight;
      const promise = client.join(room).then((ok) => {
        if (joining.get(room) === promise) joining.delete(room);
        if (ok && rooms.has(room)) joinedRooms.add(room);
        if (!ok && rooms.delete(room)) groupChanged();
        return ok;
      });
      joining.set(room, promise);
      return promise;
    }

    /** The socket client's getGrant: the grant a tab sent, else this tab's getGrant, else a tab of the room's. */
    /** @param {string} room @returns {Promise<string>} */
    function grantFor(room) {
      const sent = grants.get(room);
      if (sent) {
        grants.delete(room);
        return Promise.resolve(sent);
      }
      if (typeof getGrant === 'function') return Promise.resolve(getGrant(room));
      const asked = [...(rooms.get(room) ?? [])].find((id) => id !== s.id);
      if (!asked) return Promise.reject(new Error('no tab of the room can give a grant'));
      const req = (reqCounter += 1);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          grantAsks.delete(req);
          reject(new Error(`no grant from another tab within ${GRANT_ASK_MS} ms`));
        }, GRANT_ASK_MS);
        grantAsks.set(req, {
          resolve: (grant) => (clearTimeout(timer), resolve(grant)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        });
        post(s, { t: 'grantReq', to: asked, req, room });
      });
    }

    /** What the socket client saves: the group's positions, broadcast (and the app's store, if any). */
    const store = {
      load() {
        const stored = appStore ? appStore.load() : null;
        return { ...(stored && typeof stored === 'object' ? stored : {}), ...group.positions };
      },
      /** @param {PositionsState} state */
      save(state) {
        broadcast({ t: 'positions', state: { ...state } });
        appStore?.save(state);
      },
    };

    const client = /** @type {ClientShape} */ (
      /** @type {unknown} */ (
        createSocketClient({
          ...options,
          share: false,
          getGrant: grantFor,
          positions: store,
          visibility, // hermes-client.js's "hidden tabs let go": hidden only when every tab is
          onStateChange: undefined,
          onError: undefined,
        })
      )
    );

    /** @param {string} name @param {(...args: any[]) => any} [route] where its args go: {to?, room?} */
    function forward(name, route) {
      offs.push(
        client.on(/** @type {any} */ (name), (/** @type {any[]} */ ...args) => {
          const where = route ? route(...args) : {};
          if (where === null) return;
          broadcast({ t: 'event', name, args: args.map(plain), ...where });
        }),
      );
    }

    offs.push(client.on('state', (next, detail) => broadcast({ t: 'state', state: next, detail: plain(detail) })));
    offs.push(client.on('message', (message) => broadcast({ t: 'msg', message })));
    offs.push(
      client.on('open', () => {
        learning = client.rooms().length === 0;
        learned = new Set();
        const acked = queued;
        queued = [];
        // the socket client flushes its queue right after its `open` listeners
        queueMicrotask(() => {
          for (const { to, req } of acked) broadcast({ t: 'ack', to, req });
        });
      }),
    );
    offs.push(
      client.on('recovery', (detail) => {
        if (!learning) return;
        const match = /^room#(.+)$/.exec(detail.stream);
        if (match) learned.add(match[1]);
        queueMicrotask(() => {
          if (!learning) return;
          learning = false;
          tokenRooms = learned;
          groupChanged();
        });
      }),
    );
    for (const name of ['open', 'close', 'reconnect', 'pong', 'unauthorized', 'recovery', 'duplicate']) {
      forward(name);
    }
    forward('presence', (detail) => ({ room: detail.roomId ?? undefined }));
    forward('error', (error) => (error.kind === 'refused' ? null : {})); // each tab reports its own refusal
    /** @param {{room: string}} detail */
    const toRoom = (detail) => {
      const ids = rooms.get(detail.room);
      return ids && ids.size ? { to: [...ids] } : {};
    };
    forward('joined', toRoom);
    forward('left', (detail) => {
      const where = toRoom(detail);
      if (detail.reason === 'revoked') {
        rooms.delete(detail.room);
        joinedRooms.delete(detail.room);
        queueMicrotask(groupChanged);
      }
      return where;
    });
    forward('sent', () => ({ to: answerTo.shift() ?? s.id }));
    forward('refused', (answer) => {
      if ((answer.route === 'join' || answer.route === 'leave') && typeof answer.room === 'string') {
        return toRoom(answer);
      }
      if (answer.route === 'join' || answer.route === 'leave') return {};
      return { to: answerTo.shift() ?? s.id };
    });

    /** Requests for the leader. @param {any} m */
    function handle(m) {
      if (stopped) return undefined;
      switch (m.t) {
        case 'hello': {
          addTab(m.from, Boolean(m.hidden));
          for (const room of Array.isArray(m.rooms) ? m.rooms : []) {
            roomTabs(room, m.from);
            joinRoom(room);
          }
          post(s, { t: 'sync', to: m.from, leader: s.id, state: client.state, group: groupState() });
          visibilityMaybeChanged();
          groupChanged();
          return undefined;
        }
        case 'bye':
          removeTab(m.from);
          return undefined;
        case 'vis': {
          const tab = tabs.get(m.from);
          if (tab) tab.hidden = Boolean(m.hidden);
          visibilityMaybeChanged();
          return undefined;
        }
        case 'send': {
          let sent = false;
          try {
            sent = client.sendMessage(m.data, m.options);
          } catch (err) {
            report('send', err);
          }
          if (client.state !== 'closed') answerTo.push(m.from);
          if (sent || client.state === 'closed') broadcast({ t: 'ack', to: m.from, req: m.req });
          else queued.push({ to: m.from, req: m.req });
          return sent;
        }
        case 'join': {
          if (typeof m.grant === 'string') grants.set(m.room, m.grant);
          roomTabs(m.room, m.from);
          groupChanged();
          joinRoom(m.room).then((ok) => broadcast({ t: 'joinResult', to: m.from, req: m.req, room: m.room, ok }));
          return undefined;
        }
        case 'leave': {
          const ids = rooms.get(m.room);
          if (ids && ids.delete(m.from) && ids.size === 0) {
            leaveRoom(m.room);
            groupChanged();
            return true;
          }
          return false;
        }
        case 'ping':
          return client.ping();
        case 'connect':
          if (client.state === 'closed' || client.state === 'idle') client.connect();
          return undefined;
        case 'grant': {
          const ask = grantAsks.get(m.req);
          grantAsks.delete(m.req);
          if (ask && typeof m.grant === 'string') ask.resolve(m.grant);
          else ask?.reject(new Error(m.error ?? 'no grant'));
          return undefined;
        }
        default:
          return undefined;
      }
    }

    const LEADER_REQUESTS = new Set(['hello', 'bye', 'vis', 'send', 'join', 'leave', 'ping', 'connect', 'grant']);
    s.hub = {
      accepts: (m) => LEADER_REQUESTS.has(m.t),
      handle,
      stop() {
        stopped = true;
        watching.abort();
        for (const off of offs) off();
        client.close(1000, 'leader tab left');
      },
    };

    // start from this tab's copy of the group: its tabs (those gone are found by their locks), their rooms
    s.leaderId = s.id;
    tabs.set(s.id, { hidden: isHidden() });
    for (const [id, hidden] of Object.entries(group.tabs)) if (id !== s.id) addTab(id, hidden);
    for (const [room, ids] of Object.entries(group.rooms)) for (const id of ids) roomTabs(room, id);
    for (const room of myRooms) roomTabs(room, s.id);
    lastHidden = visibility.hidden();
    broadcast({ t: 'leader', id: s.id });
    for (const room of rooms.keys()) joinRoom(room); // joined at the open, before the resume
    for (const request of pending.values()) handle({ ...request, from: s.id }); // what it asked the old leader
    groupChanged();
    client.connect();
  }

  // --- the public API (the socket client's, over the group) --------------------------------------------
  /** @type {ClientShape} */
  const client = {
    get state() {
      return state;
    },

    connect() {
      const promise = new Promise((resolve) => {
        if (state === 'open') resolve(true);
        else waiters.push(resolve);
      });
      if (!session) start();
      else if (state === 'closed') toLeader({ t: 'connect', from: session.id });
      return promise;
    },

    close(code = 1000, reason = 'client closed') {
      const s = session;
      const wasActive = state !== 'idle' && state !== 'closed';
      if (s) stop(s);
      pending.clear();
      for (const resolve of joinWaiters.values()) resolve(false);
      joinWaiters.clear();
      setState('closed', { code, reason, byClient: true });
      if (wasActive) emit('close', { code, reason, wasOpen: Boolean(s?.wasOpen), byClient: true });
      settleWaiters(false);
    },

    subscribe(type, callback, { source = 'any', room } = {}) {
      if (typeof type !== 'string' || !type) throw new TypeError('subscribe: type must be a non-empty string');
      if (typeof callback !== 'function') throw new TypeError('subscribe: callback must be a function');
      if (!SOURCES.has(source)) throw new TypeError(`subscribe: source must be one of ${[...SOURCES].join(', ')}`);
      if (room !== undefined && (typeof room !== 'string' || !room)) {
        throw new TypeError('subscribe: room must be a non-empty string');
      }
      const set = subscribers.get(type) ?? new Set();
      subscribers.set(type, set);
      const entry = { callback, source: /** @type {SourceFilter} */ (source), room };
      set.add(entry);
      return () => {
        const current = subscribers.get(type);
        if (current && current.delete(entry) && current.size === 0) subscribers.delete(type);
      };
    },

    on(event, callback) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      const call = /** @type {(...args: any[]) => void} */ (callback);
      /** @param {...any} args */
      const wrapped = (...args) => call(...args);
      set.add(wrapped);
      return () => {
        listeners.get(event)?.delete(wrapped);
      };
    },

    sendMessage(data, { type, excludeSelf = false, room } = {}) {
      if (data === undefined) throw new TypeError('sendMessage: data is required');
      /** @type {Record<string, unknown>} */
      const body = { action: 'sendMessage', data };
      if (type !== undefined) body.type = type;
      if (room !== undefined) body.room = room;
      if (excludeSelf) body.exclude_self = true;
      const size = encoder.encode(JSON.stringify(body)).length; // throws TypeError on cycles / BigInt
      if (size > maxFrameBytes) {
        throw new RangeError(`sendMessage: message is ${size} bytes, over the ${maxFrameBytes}-byte limit`);
      }
      const s = session;
      if (!s || state === 'closed') {
        report('send', 'client is closed: call connect() first; message dropped');
        return false;
      }
      const req = (reqCounter += 1);
      const request = { t: 'send', from: s.id, req, data, options: { type, excludeSelf, room } };
      pending.set(req, request);
      const sent = toLeader(request);
      // a follower cannot know at once: "sent" when the shared connection is open and has a leader
      return s.hub ? Boolean(sent) : state === 'open' && s.leaderId !== null;
    },

    ping() {
      const s = session;
      if (!s || state !== 'open') return false;
      const sent = toLeader({ t: 'ping', from: s.id });
      return s.hub ? Boolean(sent) : true;
    },

    positions() {
      return JSON.parse(JSON.stringify(group.positions));
    },

    join(room) {
      if (typeof room !== 'string' || !room) throw new TypeError('join: room must be a non-empty string');
      if (typeof getGrant !== 'function') throw new TypeError('join: createHermesClient needs `getGrant`');
      myRooms.add(room);
      const req = (reqCounter += 1);
      return new Promise((resolve) => {
        joinWaiters.set(req, resolve);
        Promise.resolve()
          .then(() => getGrant(room))
          .then((grant) => {
            if (typeof grant !== 'string' || !grant) throw new Error('getGrant() did not return a non-empty string');
            if (!joinWaiters.has(req) || !myRooms.has(room)) return;
            const request = { t: 'join', from: session?.id, req, room, grant };
            pending.set(req, request);
            if (session) toLeader({ ...request, from: session.id });
          })
          .catch((error) => {
            report('join', `getGrant(${JSON.stringify(room)}) failed: ${error?.message ?? error}`);
            joinWaiters.delete(req);
            myRooms.delete(room);
            resolve(false);
          });
      });
    },

    leave(room) {
      if (typeof room !== 'string' || !room) throw new TypeError('leave: room must be a non-empty string');
      myRooms.delete(room);
      for (const [req, request] of pending) {
        if (request.t === 'join' && request.room === room) {
          pending.delete(req);
          joinWaiters.get(req)?.(false);
          joinWaiters.delete(req);
        }
      }
      const s = session;
      if (!s) return false;
      toLeader({ t: 'leave', from: s.id, room });
      return state === 'open';
    },

    rooms() {
      return [...myRooms];
    },
  };
  return /** @type {C} */ (/** @type {unknown} */ (client));
}
