// Demo page logic. Connecting always takes a click on Connect, with what the form shows.
//
// The page never reads settings from its own address: a link could otherwise make a visitor's page connect
// to the link author's endpoint (with the visitor's token from the token URL) or with the author's token.
// The form may be pre-filled from `config.json` next to this page (same origin, so only whoever serves the
// page can write it; `hermes local up` serves one): `{"url": "ws://…", "tokenUrl": "/token?…"}`. A token
// is never pre-filled; a token URL must be on this page's origin.
import { createHermesClient } from '../hermes-client.js';

const $ = (id) => document.getElementById(id);
let client = null;
let unsubscribe = null;

function log(text) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').prepend(item);
}

function show(message) {
  // textContent only: message data comes from other users and is never parsed as HTML
  const item = document.createElement('li');
  item.dataset.id = message.id ?? '';
  item.dataset.type = message.type;
  item.dataset.source = message.source;
  const type = document.createElement('span');
  type.className = 'type';
  type.textContent = message.type;
  const source = document.createElement('span');
  source.className = 'source';
  source.textContent = message.source;
  const meta = document.createElement('span');
  meta.className = 'meta';
  const senders = { backend: 'the backend', client: `user ${message.user_id ?? '?'}` };
  const sender = senders[message.source] ?? 'an unknown source';
  meta.textContent = ` from ${sender} in ${message.room_id ?? '?'} at ${message.sent_at ?? '?'}`;
  const data = document.createElement('pre');
  data.textContent = JSON.stringify(message.data, null, 2);
  item.append(type, source, meta, data);
  $('notifications').prepend(item);
}

/** The absolute URL of a token URL on this page's origin, or null (another origin, or not a URL). */
function sameOriginUrl(value) {
  try {
    const url = new URL(value, window.location.href);
    return url.origin === window.location.origin ? url.href : null;
  } catch {
    return null;
  }
}

function isWebSocketUrl(value) {
  try {
    return ['ws:', 'wss:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function tokenSource(token, tokenUrl) {
  if (tokenUrl) {
    return async () => {
      const response = await fetch(tokenUrl, { cache: 'no-store', credentials: 'same-origin', redirect: 'error' });
      if (!response.ok) throw new Error(`token URL answered ${response.status}`);
      const text = (await response.text()).trim();
      return text.startsWith('{') ? JSON.parse(text).token : text;
    };
  }
  let warned = false;
  return async () => {
    if (warned) log('reusing the same token: it may have expired (give a token URL for fresh ones)');
    warned = true;
    return token;
  };
}

function subscribe() {
  unsubscribe?.();
  unsubscribe = client?.subscribe('*', show, { source: $('backend-only').checked ? 'backend' : 'any' }) ?? null;
}

function start(url, token, tokenUrl) {
  client?.close();
  client = createHermesClient({
    url,
    getToken: tokenSource(token, tokenUrl),
    onStateChange: (state, detail) => {
      $('state').textContent = state;
      $('state').dataset.state = state;
      $('send').disabled = state !== 'open';
      $('disconnect').disabled = state === 'closed';
      if (state === 'reconnecting') log(`reconnecting (attempt ${detail.attempt}, in ${detail.delayMs} ms)`);
      else log(state);
    },
    onError: (error) => log(`${error.kind}: ${error.message}`),
  });
  subscribe();
  client.on('duplicate', (message) => log(`duplicate ${message.id} dropped`));
  client.on('recovery', ({ stream, complete, replayed, position }) => {
    if (!complete) log(`${stream}: missed messages cannot be replayed (refetch); now at ${position}`);
    else if (replayed) log(`${stream}: ${replayed} missed message(s) replayed`);
  });
  window.hermesDemo.client = client; // for the console (and the browser tests)
  client.connect();
}

$('connect-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const url = $('url').value.trim();
  const token = $('token').value.trim();
  const tokenUrl = $('tokenUrl').value.trim();
  if (!isWebSocketUrl(url)) {
    log('the stage URL must start with ws:// or wss://');
    return;
  }
  if (!token && !tokenUrl) {
    log('give a token or a token URL');
    return;
  }
  const sameOriginTokenUrl = tokenUrl ? sameOriginUrl(tokenUrl) : '';
  if (sameOriginTokenUrl === null) {
    log(`not connecting: the token URL must be on ${window.location.origin}`);
    return;
  }
  start(url, token, sameOriginTokenUrl);
});

$('disconnect').addEventListener('click', () => client?.close());
$('backend-only').addEventListener('change', subscribe);

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const raw = $('send-data').value;
  let data;
  try {
    data = JSON.parse(raw);
  } catch {
    data = raw;
  }
  try {
    client?.sendMessage(data, { type: $('send-type').value || undefined, excludeSelf: $('send-exclude-self').checked });
  } catch (err) {
    log(`not sent: ${err.message}`);
  }
});

/** Pre-fill the form from config.json next to this page, if there is one. Never connects. */
async function prefill() {
  let config;
  try {
    const response = await fetch(new URL('config.json', import.meta.url), { cache: 'no-store', redirect: 'error' });
    if (!response.ok) return; // no config: the form starts empty
    config = await response.json();
  } catch (err) {
    log(`config.json ignored: ${err.message}`);
    return;
  }
  if (config === null || typeof config !== 'object') return;
  if (typeof config.url === 'string' && isWebSocketUrl(config.url)) $('url').value = config.url;
  if (typeof config.tokenUrl === 'string') {
    if (sameOriginUrl(config.tokenUrl) !== null) $('tokenUrl').value = config.tokenUrl;
    else log(`config.json: token URL ignored (not on ${window.location.origin})`);
  }
  if ('token' in config) log('config.json: token ignored (a token is never pre-filled)');
}

const ignored = ['url', 'token', 'tokenUrl'].filter((name) => new URLSearchParams(window.location.search).has(name));
if (ignored.length) {
  log(`ignored ${ignored.join(', ')} in the page address: this page only connects with what you enter below`);
  // keep a token out of the address bar (and out of anything copied from it from now on)
  if (ignored.includes('token')) window.history.replaceState(null, '', window.location.pathname + window.location.hash);
}
window.hermesDemo = { client: null, ready: prefill() };
window.hermesDemo.ready.finally(() => (document.body.dataset.ready = 'true'));
