// Compiled, never run, by `make js-check`: the published types as an app sees them, through the package's
// "exports" (imported by its own name), under strict settings. Every @ts-expect-error must stay an error.
import createDefault, {
  backoffDelay,
  createHermesClient,
  HermesAuthError,
  Sources,
  States,
  withToken,
  type HermesClient,
  type HermesMessage,
  type MessageSource,
  type PositionsState,
  type RecoveryDetail,
  type RefusedAnswer,
  type State,
} from 'hermes-notifications-client';

const client: HermesClient = createHermesClient({
  url: 'wss://ws.example.com/prod',
  getToken: async () => {
    const response = await fetch('/api/hermes-token');
    if (response.status === 401) throw new HermesAuthError('logged out');
    return response.text();
  },
  WebSocketImpl: WebSocket, // the browser's own
  backoff: { baseMs: 500 },
  onStateChange: (state: State, detail) => {
    if (state === States.CLOSED && detail.reason === 'unauthorized') console.log('log in again');
  },
  onError: ({ kind, message }) => console.warn(kind, message),
});
export const sameFunction: typeof createHermesClient = createDefault;

export const off: () => void = client.subscribe(
  'job.finished',
  (message: HermesMessage) => {
    const source: MessageSource = message.source;
    if (source === Sources.BACKEND) console.log(message.data.job, message.id, message.sent_at);
  },
  { source: 'backend' },
);
client.on('refused', (answer: RefusedAnswer) => console.log(answer.status, answer.error, answer.gateway));
client.on('sent', (answer) => console.log(answer.message_id, answer.delivered));
client.on('unauthorized', ({ message }) => console.log(message));
client.on('state', (state, detail) => console.log(state, detail.previous));
export const opened: Promise<boolean> = client.connect();
export const sent: boolean = client.sendMessage({ text: 'hi' }, { type: 'chat', excludeSelf: true });
export const delay: number = backoffDelay(2, { baseMs: 100, maxMs: 1000 });
export const withTokenUrl: string = withToken('wss://h/prod', 't');
export const closed: 'closed' = States.CLOSED;
export const authError: Error = new HermesAuthError();

// gap-free delivery: a positions store across page loads, recovery outcomes, where the client stands
const resuming: HermesClient = createHermesClient({
  url: 'wss://ws.example.com/prod',
  getToken: () => 't',
  positions: {
    load: () => JSON.parse(localStorage.getItem('hermes-positions') ?? 'null') as PositionsState | null,
    save: (state) => localStorage.setItem('hermes-positions', JSON.stringify(state)),
  },
  reorderMs: 1000,
});
resuming.on('recovery', (detail: RecoveryDetail) => {
  if (!detail.complete) console.log('refetch', detail.stream, detail.epoch, detail.position, detail.reason);
});
export const where: PositionsState = resuming.positions();
export const position: number | undefined = where['room#r1']?.position;
resuming.subscribe('*', (message) => console.log(message.stream, message.epoch, message.position));
// @ts-expect-error a positions store needs save(state) too
createHermesClient({ url: 'wss://h/prod', getToken: () => 't', positions: { load: () => null } });
// @ts-expect-error recovery details have no `missed` field
resuming.on('recovery', (detail) => console.log(detail.missed));

// @ts-expect-error a typo in the source filter is a type error (and a TypeError at run time)
client.subscribe('*', () => {}, { source: 'backed' });
client.subscribe('*', (message) => {
  // @ts-expect-error there is no 'admin' source: `source` is a closed set
  if (message.source === 'admin') console.log('never');
});
// @ts-expect-error events are checked by name
client.on('mesage', () => {});
// @ts-expect-error a refused answer has no message_id
client.on('refused', (answer) => console.log(answer.message_id));
// @ts-expect-error url is required
createHermesClient({ getToken: () => 't' });
// @ts-expect-error getToken must give a string
createHermesClient({ url: 'wss://h/prod', getToken: () => 42 });
// @ts-expect-error state is read-only
client.state = 'open';
