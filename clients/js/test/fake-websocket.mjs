// A scriptable stand-in for the browser WebSocket: the test plays the server.

export class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static instances = [];
  /**
   * The "server's" answer to {"action":"resume"} (history on, nothing missed), sent back at once; a test that
   * plays the resume route itself sets it to null (or to a function of the request returning frames).
   */
  static answerResume = FakeWebSocket.nothingMissed;

  static nothingMissed() {
    return [{ type: 'hermes.recovery', status: 200, streams: {} }];
  }

  static reset() {
    FakeWebSocket.instances = [];
    FakeWebSocket.answerResume = FakeWebSocket.nothingMissed;
  }

  static get last() {
    return FakeWebSocket.instances.at(-1);
  }

  constructor(url) {
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    this.closedWith = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeWebSocket.instances.push(this);
  }

  get token() {
    return new URL(this.url).searchParams.get('token');
  }

  /** What the client sent, parsed. */
  get sentJson() {
    return this.sent.map((s) => JSON.parse(s));
  }

  send(data) {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error('InvalidStateError: not open');
    this.sent.push(data);
    const request = JSON.parse(data);
    if (request.action === 'resume' && FakeWebSocket.answerResume) {
      for (const frame of FakeWebSocket.answerResume(request)) this.serverSend(frame);
    }
  }

  /** What the client sent, parsed, without its resume requests (what the app asked for, and pings). */
  get appSent() {
    return this.sentJson.filter((m) => m.action !== 'resume');
  }

  /** The resume requests the client sent. */
  get resumes() {
    return this.sentJson.filter((m) => m.action === 'resume');
  }

  close(code = 1000, reason = '') {
    this.closedWith = { code, reason };
    this.readyState = FakeWebSocket.CLOSED;
  }

  // --- the "server" side ---
  serverOpen() {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.({ type: 'open' });
  }

  serverSend(data) {
    this.onmessage?.({ type: 'message', data: typeof data === 'string' ? data : JSON.stringify(data) });
  }

  serverSendRaw(data) {
    this.onmessage?.({ type: 'message', data });
  }

  serverClose(code = 1006, reason = '') {
    this.readyState = FakeWebSocket.CLOSED;
    this.onerror?.({ type: 'error' });
    this.onclose?.({ type: 'close', code, reason, wasClean: code !== 1006 });
  }
}

/** Let pending promise callbacks (getToken) run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

export function envelope(id, type = 'job.finished', data = { n: id }) {
  return { id, type, room_id: 'room-1', user_id: null, data, sent_at: '2026-01-01T00:00:00.000Z' };
}
