// The live channel (docs/live-channel.md): a WebSocket that pushes conversation events to this page.
//
//   const live = new LiveChannel({ url, token, room, onEvent, onState });
//   live.start();  // connects, and reconnects with backoff while started
//   live.stop();
//
// - The ID token is offered as a subprotocol after "tandem.v1" (a browser cannot set headers on a WebSocket);
//   the server answers "tandem.v1" or refuses the connection.
// - Events are delivered at least once: each names itself (`id`), and one seen before is dropped here.
// - onState("open" | "closed"): the page polls slowly while the channel is open and at its normal pace while
//   it is closed, and reads what it may have missed when it opens again: push is never the only way in.
// - A keep-alive every few minutes, since API Gateway closes a connection that is idle for 10 minutes.

export const PROTOCOL = "tandem.v1";
const KEEP_ALIVE_MS = 4 * 60_000;
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;
const REMEMBERED_EVENTS = 1_000;

export class LiveChannel {
  constructor({ url, token, room = "chat", onEvent, onState = () => {} }) {
    Object.assign(this, { url, token, room, onEvent, onState });
    this.socket = null;
    this.started = false;
    this.retries = 0;
    this.timer = null;
    this.keepAlive = null;
    this.seen = new Set();
    this.open = null; // not known yet: the first open or close is reported
  }

  start() {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  stop() {
    this.started = false;
    clearTimeout(this.timer);
    clearInterval(this.keepAlive);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
    this.setOpen(false);
  }

  connect() {
    const token = this.token();
    if (!this.started || !token || !this.url) return;
    let socket;
    try {
      const url = new URL(this.url);
      if (this.room !== "chat") url.searchParams.set("room", this.room);
      socket = new WebSocket(url.toString(), [PROTOCOL, token]);
    } catch (error) {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.retries = 0;
      this.setOpen(true);
      clearInterval(this.keepAlive);
      this.keepAlive = setInterval(() => this.send({ action: "ping" }), KEEP_ALIVE_MS);
    });
    socket.addEventListener("message", (message) => {
      if (socket === this.socket) this.receive(message.data);
    });
    socket.addEventListener("close", () => {
      if (socket !== this.socket) return;
      clearInterval(this.keepAlive);
      this.socket = null;
      this.setOpen(false);
      this.retry();
    });
  }

  retry() {
    if (!this.started) return;
    const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.retries);
    this.retries += 1;
    clearTimeout(this.timer);
    // Jitter: many pages that lost the connection together do not all come back in the same second.
    this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch (error) {
      return; // not an event of this protocol
    }
    if (!event || event.v !== 1 || typeof event.id !== "string" || typeof event.type !== "string") return;
    if (this.seen.has(event.id)) return;
    this.seen.add(event.id);
    if (this.seen.size > REMEMBERED_EVENTS) this.seen.delete(this.seen.values().next().value);
    this.onEvent(event);
  }

  setOpen(open) {
    if (open === this.open) return;
    this.open = open;
    this.onState(open ? "open" : "closed");
  }
}
