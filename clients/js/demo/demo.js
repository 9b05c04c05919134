// Demo page logic: URL and token from the query string (?url=…&token=… or &tokenUrl=…) or the form.
import { createHermesClient } from '../hermes-client.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
let client = null;

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
  const type = document.createElement('span');
  type.className = 'type';
  type.textContent = message.type;
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = ` from ${message.user_id ?? 'the backend'} in ${message.room_id ?? '?'} at ${message.sent_at ?? '?'}`;
  const data = document.createElement('pre');
  data.textContent = JSON.stringify(message.data, null, 2);
  item.append(type, meta, data);
  $('notifications').prepend(item);
}

function tokenSource(token, tokenUrl) {
  if (tokenUrl) {
    return async () => {
      const response = await fetch(tokenUrl, { cache: 'no-store' });
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
  client.subscribe('*', show);
  client.on('duplicate', (message) => log(`duplicate ${message.id} dropped`));
  window.hermesDemo = { client }; // for the console (and the browser tests)
  client.connect();
}

$('connect-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const url = $('url').value.trim();
  const token = $('token').value.trim();
  const tokenUrl = $('tokenUrl').value.trim();
  if (!token && !tokenUrl) {
    log('give a token or a token URL');
    return;
  }
  start(url, token, tokenUrl);
});

$('disconnect').addEventListener('click', () => client?.close());

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

for (const name of ['url', 'token', 'tokenUrl']) {
  if (params.has(name)) $(name).value = params.get(name);
}
if (params.get('url') && (params.get('token') || params.get('tokenUrl'))) {
  start(params.get('url'), params.get('token'), params.get('tokenUrl'));
}
