/**
 * The full-jitter exponential backoff delay before reconnect attempt `attempt` (1-based).
 * @param {number} attempt
 * @param {{baseMs: number, maxMs: number}} backoff
 * @param {() => number} [random=Math.random]
 * @returns {number}
 */
export function backoffDelay(attempt: number, { baseMs, maxMs }: {
    baseMs: number;
    maxMs: number;
}, random?: () => number): number;
/**
 * `url` with `token` as its `token` query parameter (replacing one already there).
 * @param {string} url
 * @param {string} token
 * @returns {string}
 */
export function withToken(url: string, token: string): string;
/**
 * A client for one Hermes stage. Nothing happens until `connect()`. Tabs share one socket (`share`, on by
 * default) where Web Locks and BroadcastChannel exist; elsewhere (Node, old browsers) each has its own.
 * @param {HermesClientOptions} options
 * @returns {HermesClient}
 */
export function createHermesClient(options: HermesClientOptions): HermesClient;
/**
 * The socket-level client: one WebSocket of its own (what each tab of a shared group runs when it leads).
 * @param {HermesClientOptions} options
 * @returns {HermesClient}
 */
export function createSocketClient(options: HermesClientOptions): HermesClient;
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
export const States: Readonly<{
    IDLE: "idle";
    CONNECTING: "connecting";
    OPEN: "open";
    RECONNECTING: "reconnecting";
    PAUSED: "paused";
    CLOSED: "closed";
}>;
/**
 * Where a notification came from, as the client reports it in `message.source`: `'backend'` (your backend,
 * through the queue / SDK), `'client'` (another connected client, through the sendMessage route), or
 * `'unknown'` (the frame had no `source`, or one this client does not know). Only `'backend'` is a backend
 * message; `'unknown'` never counts as one.
 * @type {Readonly<{BACKEND: 'backend', CLIENT: 'client', UNKNOWN: 'unknown'}>}
 */
export const Sources: Readonly<{
    BACKEND: "backend";
    CLIENT: "client";
    UNKNOWN: "unknown";
}>;
/**
 * Throw this from `getToken` (or any error whose `name` is `'HermesAuthError'`, so a copy of this class from
 * another bundle works too) when there is no session to get a token for, e.g. the user logged out: the client
 * stops instead of retrying, moves to `closed` with `detail.reason === 'unauthorized'`, emits `unauthorized`,
 * and drops the messages queued for sending. `connect()` starts again (after a new login).
 */
export class HermesAuthError extends Error {
    /** @param {string} [message] */
    constructor(message?: string);
}
export default createHermesClient;
export type State = "idle" | "connecting" | "open" | "reconnecting" | "paused" | "closed";
export type MessageSource = "backend" | "client" | "unknown";
export type SourceFilter = MessageSource | "any";
/**
 * A notification as subscribers get it (README "Messages"). Fields the server adds later pass through.
 */
export type HermesMessage = {
    type: string;
    /**
     * set by Hermes: `'backend'`, `'client'`, or `'unknown'` (missing/unrecognized)
     */
    source: MessageSource;
    /**
     * the same on every copy of one message (duplicates are dropped)
     */
    id?: string | undefined;
    room_id?: string | null | undefined;
    /**
     * the sender, for a client message
     */
    user_id?: string | null | undefined;
    data?: any;
    /**
     * ISO 8601, UTC
     */
    sent_at?: string | undefined;
    /**
     * with history on: the message's stream (`room#<room>`, `user#<user>`, `user#<user>#<room>`)
     */
    stream?: string | undefined;
    /**
     * with history on: the stream's numbering (changes only if the stream starts over)
     */
    epoch?: string | undefined;
    /**
     * with history on: 1, 2, 3, … in the stream; delivered in this order
     */
    position?: number | undefined;
};
/**
 * Where the client stands in one stream: the epoch and the last position delivered (0: none yet).
 */
export type StreamPosition = {
    /**
     * `''` for a stream that was still empty when the client first saw it
     */
    epoch: string;
    position: number;
};
/**
 * stream name → where the client stands
 */
export type PositionsState = Record<string, StreamPosition>;
/**
 * Keeps the positions across page loads (e.g. in localStorage), so a reloaded page resumes where it stopped
 * instead of starting at the streams' heads. Both are called synchronously; errors are reported, not thrown.
 */
export type PositionsStore = {
    /**
     * called once, by the first connect()
     */
    load: () => (PositionsState | null | undefined);
    /**
     * called after every frame that moved a position
     */
    save: (state: PositionsState) => void;
};
/**
 * A user arrived in or left the room (the `presence` event; the module's presence_events_enabled must be on). About
 * users, not tabs: a join for a user's first connection in the room, a leave when their last one is gone.
 * Events can repeat (e.g. two tabs closing at once): treat them as idempotent updates of a set of users.
 */
export type PresenceDetail = {
    type: "join" | "leave";
    userId: string;
    roomId: string | null;
    /**
     * the envelope's id
     */
    id?: string | undefined;
    /**
     * ISO 8601, UTC
     */
    sentAt?: string | undefined;
};
/**
 * The outcome of a resume for one stream (the `recovery` event), after every (re)connect and every resume.
 */
export type RecoveryDetail = {
    stream: string;
    /**
     * false: messages were missed that can no longer be replayed (past the retention,
     * the stream started over, more than the server replays, or a gap that never filled): REFETCH your state
     */
    complete: boolean;
    /**
     * messages the server replayed for this stream
     */
    replayed: number;
    /**
     * where the client stands now
     */
    epoch: string;
    /**
     * the stream's head as the server answered it (or where the client gave up)
     */
    position: number;
    /**
     * only when the client itself gave up on a gap
     */
    reason?: string | undefined;
    /**
     * the server stopped at its byte budget for one resume: the client resumes again
     * at once for the rest (the app need not do anything)
     */
    more?: boolean | undefined;
};
/**
 * The route's answer to a sendMessage that went out.
 */
export type SentAnswer = {
    type: "hermes.sent";
    status: number;
    message_id: string;
    delivered: number;
    gone: number;
    failed: number;
};
/**
 * A sendMessage that did not go out: the route's `hermes.refused` answer (400 reserved type or bad body,
 * 413 too big, 429 too fast, …), or API Gateway's error frame (`gateway: true`; 403 Forbidden when the
 * stage has no sendMessage route, i.e. client messages are off; 502 for any other).
 */
export type RefusedAnswer = {
    type: "hermes.refused";
    status: number;
    error: string;
    gateway?: boolean | undefined;
    connectionId?: string | undefined;
    requestId?: string | undefined;
};
export type ErrorKind = "malformed" | "gateway" | "callback" | "refused" | "token" | "auth" | "socket" | "timeout" | "send" | "recovery" | "join";
export type HermesError = {
    kind: ErrorKind;
    message: string;
    error?: Error | undefined;
};
/**
 * What comes with a state change (which fields depends on the change).
 */
export type StateDetail = {
    previous: State;
    /**
     * e.g. 'unauthorized' (getToken threw HermesAuthError), 'token', 'socket',
     * 'hidden' (paused: the page was hidden longer than hiddenGraceMs), 'visible' (connecting again after that)
     */
    reason?: string | undefined;
    /**
     * with reason 'unauthorized': what getToken threw
     */
    error?: unknown;
    /**
     * reconnecting: the attempt about to be made
     */
    attempt?: number | undefined;
    /**
     * reconnecting: the wait before it
     */
    delayMs?: number | undefined;
    /**
     * the close code, when a close caused the change
     */
    code?: number | undefined;
    /**
     * closed: maxRetries was reached
     */
    gaveUp?: boolean | undefined;
    /**
     * closed: close() was called
     */
    byClient?: boolean | undefined;
    /**
     * open: how many connections this client has opened so far
     */
    connection?: number | undefined;
};
export type CloseDetail = {
    code?: number | undefined;
    reason?: string | undefined;
    wasOpen: boolean;
    byClient?: boolean | undefined;
};
export type UnauthorizedDetail = {
    /**
     * what getToken threw
     */
    error: unknown;
    message: string;
};
/**
 * Listener signatures of `client.on(event, callback)`.
 */
export type HermesEvents = {
    state: (state: State, detail: StateDetail) => void;
    open: (detail: {
        connection: number;
    }) => void;
    close: (detail: CloseDetail) => void;
    reconnect: (detail: {
        attempt: number;
        delayMs: number;
    }) => void;
    /**
     * every new notification, any source
     */
    message: (message: HermesMessage) => void;
    duplicate: (message: HermesMessage) => void;
    pong: () => void;
    sent: (answer: SentAnswer) => void;
    refused: (answer: RefusedAnswer) => void;
    unauthorized: (detail: UnauthorizedDetail) => void;
    /**
     * per stream, after each resume; `complete: false`: refetch
     */
    recovery: (detail: RecoveryDetail) => void;
    /**
     * a user joined or left the room (presence_events_enabled on)
     */
    presence: (detail: PresenceDetail) => void;
    /**
     * this socket joined a room (join(), or a re-join after a reconnect)
     */
    joined: (detail: RoomDetail) => void;
    /**
     * this socket left a room: leave(), or `reason: 'revoked'` by the backend
     */
    left: (detail: RoomDetail) => void;
    error: (error: HermesError) => void;
};
export type RoomDetail = {
    room: string;
    /**
     * left: 'left' (leave()) or 'revoked' (the backend revoked the room)
     */
    reason?: string | undefined;
};
export type SubscribeOptions = {
    /**
     * `'backend'`: only what your backend published
     */
    source?: SourceFilter | undefined;
    /**
     * only messages of this room (a socket carries every room of its user)
     */
    room?: string | undefined;
};
export type SendOptions = {
    /**
     * the message type (the server's default when omitted); not `pong` or `hermes.*`
     */
    type?: string | undefined;
    /**
     * not to this connection itself
     */
    excludeSelf?: boolean | undefined;
    /**
     * the room to send to: required when the socket is in more than one
     */
    room?: string | undefined;
};
export type BackoffOptions = {
    baseMs?: number | undefined;
    maxMs?: number | undefined;
    /**
     * a connection up this long resets the attempt counter
     */
    resetAfterMs?: number | undefined;
};
export type HermesClientOptions = {
    /**
     * the stage URL, e.g. wss://ws.example.com/prod (the token is added as ?token=)
     */
    url: string;
    /**
     * called for a FRESH token before every (re)connect;
     * throw HermesAuthError when nobody is signed in (the client stops), any other error is retried. The token
     * names the rooms the socket is in from its connect (your backend's `issue_token(user, rooms)`)
     */
    getToken: () => (string | Promise<string>);
    /**
     * a grant for one room more (your
     * backend's `Hermes.grant(user, room)`), for join(room); a grant is reused for re-joins until it expires
     */
    getGrant?: ((room: string) => (string | Promise<string>)) | undefined;
    /**
     * after this long without sending anything, send a one-way keep-alive
     * (API Gateway closes a connection after 10 idle minutes; 1 billed message each); 0 disables
     */
    keepAliveMs?: number | undefined;
    /**
     * when nothing arrived for this long, the keep-alive is a ping
     * answered by a pong instead (2 billed messages): a dead socket is noticed within probeAfterMs +
     * keepAliveMs + pongTimeoutMs at worst; sooner when the page comes back, the network comes back ('online')
     * or a send fails. 0: every keep-alive is a ping
     */
    probeAfterMs?: number | undefined;
    /**
     * reconnect if a ping gets no pong in time; 0 disables (and probing)
     */
    pongTimeoutMs?: number | undefined;
    /**
     * a page hidden this long closes its socket (state 'paused') and
     * reconnects and resumes when it is visible again: nothing is lost (history). 0: never let go
     */
    hiddenGraceMs?: number | undefined;
    /**
     * whether the page is hidden (default: `document`, when
     * there is one); null: never hidden
     */
    visibility?: VisibilitySource | null | undefined;
    backoff?: BackoffOptions | undefined;
    /**
     * consecutive failed attempts before giving up (state 'closed')
     */
    maxRetries?: number | undefined;
    connectTimeoutMs?: number | undefined;
    /**
     * how many message ids are remembered to drop duplicates
     */
    dedupSize?: number | undefined;
    /**
     * sendMessage calls kept while disconnected (oldest dropped)
     */
    maxQueued?: number | undefined;
    /**
     * bigger messages throw RangeError (API Gateway's frame limit)
     */
    maxFrameBytes?: number | undefined;
    /**
     * resume after every open and deliver each stream in position order;
     * false: envelopes are delivered as they arrive (as without history)
     */
    resume?: boolean | undefined;
    /**
     * keeps positions across page loads (README "Resume")
     */
    positions?: PositionsStore | undefined;
    /**
     * how long a later position waits for a missing one before the client
     * resumes to get it from the history
     */
    reorderMs?: number | undefined;
    WebSocketImpl?: WebSocketConstructor | undefined;
    onStateChange?: ((state: State, detail: StateDetail) => void) | undefined;
    onError?: ((error: HermesError) => void) | undefined;
    /**
     * jitter source (tests)
     */
    random?: (() => number) | undefined;
    /**
     * tabs of this origin share one socket for this stage (hermes-shared.js;
     * README "One socket per browser"); a string: only tabs with the same group name share; false: a socket per tab
     */
    share?: string | boolean | undefined;
};
/**
 * Whether the page is hidden, and a way to hear when that changes (the default reads `document`).
 */
export type VisibilitySource = {
    hidden: () => boolean;
    /**
     * returns a function that stops listening
     */
    onChange: (listener: () => void) => () => void;
};
/**
 * What the client needs of a WebSocket: the browser's, Node's (22+), or `ws`.
 */
export type WebSocketConstructor = new (url: string) => WebSocketLike;
export type WebSocketLike = {
    readyState: number;
    send: (data: string) => void;
    close: (code?: number, reason?: string) => void;
    onopen: ((event: any) => void) | null;
    /**
     * `event.data`: the frame (a string for text frames)
     */
    onmessage: ((event: any) => void) | null;
    onerror: ((event: any) => void) | null;
    /**
     * `event.code`, `event.reason`
     */
    onclose: ((event: any) => void) | null;
};
/**
 * `state`: the current state
 */
export type HermesClient = {
    readonly state: State;
} & HermesClientMethods;
export type HermesClientMethods = {
    /**
     * start (or restart after close()); resolves true once open,
     * false if close() is called, reconnecting gives up, or getToken throws HermesAuthError first; never rejects
     */
    connect: () => Promise<boolean>;
    /**
     * for good: no reconnect until connect()
     */
    close: (code?: number, reason?: string) => void;
    /**
     * messages of `type` ('*': every type), optionally of one source; returns unsubscribe
     */
    subscribe: (type: string, callback: (message: HermesMessage) => void, options?: SubscribeOptions) => () => void;
    /**
     * returns off
     */
    on: <E extends keyof HermesEvents>(event: E, callback: HermesEvents[E]) => () => void;
    /**
     * true if sent now, false if queued
     * (or dropped after close()); throws RangeError over the frame limit, TypeError for data that is not JSON
     */
    sendMessage: (data: unknown, options?: SendOptions) => boolean;
    /**
     * send a keep-alive ping now (normally automatic); whether it was sent
     */
    ping: () => boolean;
    /**
     * where the client stands in each stream it knows (a copy)
     */
    positions: () => PositionsState;
    /**
     * this socket joins `room` (a grant from getGrant), now
     * and after every reconnect until leave(room); true when joined, false when refused (see 'refused')
     */
    join: (room: string) => Promise<boolean>;
    /**
     * stop receiving `room` (and re-joining it); whether it was sent
     */
    leave: (room: string) => boolean;
    /**
     * the rooms join() added (the token's own rooms are the backend's choice)
     */
    rooms: () => string[];
};
