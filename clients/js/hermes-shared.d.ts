/** The browser's APIs, or undefined where they are missing (Node, old browsers). @returns {SharedEnv} */
export function browserEnv(): SharedEnv;
/** Can tabs share a socket here? Web Locks and BroadcastChannel both. @param {SharedEnv} [env] */
export function sharingAvailable(env?: SharedEnv): boolean;
/**
 * The name tabs of one group share (locks and channel): the stage URL (two stages never share), and the
 * app's own group name when `share` is a string (e.g. one per signed-in user).
 * @param {string} url @param {boolean | string | undefined} share
 */
export function groupKey(url: string, share: boolean | string | undefined): string;
/**
 * A client whose tabs share one socket: the same interface as the socket client (README "One socket per
 * browser" says what a follower tab sees).
 * @template C  the socket client's type (HermesClient)
 * @param {SharedOptions} options
 * @param {(options: any) => C} createSocketClient  the socket-level factory (hermes-client.js's createSocketClient)
 * @param {SharedEnv} [env]  the browser's APIs (tests pass fakes)
 * @returns {C}
 */
export function createSharedClient<C>(options: SharedOptions, createSocketClient: (options: any) => C, env?: SharedEnv): C;
/**
 * the socket client's states ('idle', 'connecting', 'open', …), mirrored as they come
 */
export type State = string;
export type PositionsState = Record<string, {
    epoch: string;
    position: number;
}>;
export type HermesMessage = Record<string, any> & {
    type: string;
    source: string;
    id?: string;
    room_id?: string | null;
};
export type SourceFilter = "backend" | "client" | "unknown" | "any";
/**
 * The options createHermesClient takes (HermesClientOptions in hermes-client.js); these are the ones read here.
 */
export type SharedOptions = Record<string, any> & {
    url: string;
    share?: boolean | string;
    getGrant?: (room: string) => (string | Promise<string>);
    onStateChange?: (state: any, detail: any) => void;
    onError?: (error: any) => void;
    dedupSize?: number;
    maxFrameBytes?: number;
    positions?: {
        load: () => any;
        save: (state: any) => void;
    };
};
/**
 * A client as this module uses the socket client and builds its own (HermesClient in hermes-client.js).
 */
export type ClientShape = {
    state: State;
    connect: () => Promise<boolean>;
    close: (code?: number, reason?: string) => void;
    subscribe: (type: string, callback: (message: any) => void, options?: {
        source?: string;
        room?: string;
    }) => () => void;
    on: (event: string, callback: (...args: any[]) => void) => () => void;
    sendMessage: (data: unknown, options?: {
        type?: string;
        excludeSelf?: boolean;
        room?: string;
    }) => boolean;
    ping: () => boolean;
    positions: () => PositionsState;
    join: (room: string) => Promise<boolean>;
    leave: (room: string) => boolean;
    rooms: () => string[];
};
/**
 * What the sharing layer needs of its surroundings (the browser's by default; fakes in tests).
 */
export type SharedEnv = {
    locks?: {
        request: (name: string, options: {
            signal?: AbortSignal;
        }, callback: () => Promise<void> | void) => Promise<unknown>;
    } | undefined;
    BroadcastChannel?: (new (name: string) => ChannelLike) | undefined;
    document?: {
        visibilityState?: string;
        addEventListener?: (type: string, listener: () => void) => void;
        removeEventListener?: (type: string, listener: () => void) => void;
    } | undefined;
};
export type ChannelLike = {
    postMessage: (message: any) => void;
    onmessage: ((event: {
        data: any;
    }) => void) | null;
    close: () => void;
};
/**
 * The socket client's `visibility` option (hermes-client.js, "hidden tabs let go"): hidden only when every
 * tab of the group is hidden.
 */
export type SharedVisibility = {
    hidden: () => boolean;
    onChange: (listener: () => void) => () => void;
};
