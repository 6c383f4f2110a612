// The signalling client shared by the broadcast and watch pages (contract: /ws/live/<id>/, see
// docs of the live protocol). Reconnects with exponential backoff and jitter on any close except a
// fatal one (error fatal:true, kicked, close code 4403): those are final and shown to the person.
// Fetches a fresh join token before every reconnect (tokens live 10 minutes), and estimates the
// server clock offset from ping/pong so countdowns agree with the server.

export type Message = { type: string; [key: string]: unknown };

export interface SignalHandlers {
  onMessage(message: Message): void;
  /** The socket is open (first time or again after a reconnect). */
  onOpen(reconnected: boolean): void;
  /** The socket closed and a reconnect is scheduled. */
  onDisconnected(): void;
  /** Final: do not retry; ``message`` is for people. */
  onFatal(code: string, message: string): void;
}

const FATAL_CLOSE_CODE = 4403;
const PING_INTERVAL_MS = 10_000;
const MAX_BACKOFF_MS = 15_000;
// The page's token is used for the first connect only if it is this fresh (tokens last 600 s).
const PAGE_TOKEN_MAX_AGE_MS = 8 * 60_000;

export class Clock {
  /** serverTime - localTime in ms; the estimate from the sample with the shortest round trip wins. */
  offsetMs = 0;
  private bestRoundTripMs = Number.POSITIVE_INFINITY;

  constructor(serverTimeMs?: number) {
    if (serverTimeMs !== undefined && Number.isFinite(serverTimeMs)) this.offsetMs = serverTimeMs - Date.now();
  }

  /** A server timestamp without a round trip (welcome): used until a pong gives a better one. */
  roughSample(serverTimeMs: number): void {
    if (this.bestRoundTripMs === Number.POSITIVE_INFINITY && Number.isFinite(serverTimeMs)) {
      this.offsetMs = serverTimeMs - Date.now();
    }
  }

  pong(clientTimeMs: number, serverTimeMs: number): void {
    const now = Date.now();
    const roundTrip = now - clientTimeMs;
    if (!Number.isFinite(roundTrip) || roundTrip < 0 || !Number.isFinite(serverTimeMs)) return;
    // A shorter round trip bounds the error better; old samples age out slowly (clock drift, network change).
    this.bestRoundTripMs = this.bestRoundTripMs * 1.05 + 1;
    if (roundTrip <= this.bestRoundTripMs) {
      this.bestRoundTripMs = roundTrip;
      this.offsetMs = serverTimeMs - (clientTimeMs + roundTrip / 2);
    }
  }

  serverNow(): number {
    return Date.now() + this.offsetMs;
  }
}

export interface SignalOptions {
  wsPath: string;
  tokenUrl: string;
  pageToken: string;
  clock: Clock;
  handlers: SignalHandlers;
}

export class SignalClient {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private stopped = false;
  private openedOnce = false;
  private pageToken: string | null;
  private readonly pageLoadedAt = Date.now();

  constructor(private readonly options: SignalOptions) {
    this.pageToken = options.pageToken || null;
  }

  get isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  start(): void {
    void this.connect();
  }

  send(message: Message): boolean {
    if (!this.isOpen || this.socket === null) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** The network came back (online event): do not wait for the backoff timer. */
  reconnectSoon(): void {
    if (this.stopped) return;
    if (this.socket === null && this.retryTimer !== undefined) {
      window.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.attempt = 0;
      void this.connect();
    }
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) socket.close(1000);
  }

  private fatal(code: string, message: string): void {
    if (this.stopped) return;
    this.stop();
    this.options.handlers.onFatal(code, message);
  }

  private async token(): Promise<string | null> {
    if (this.pageToken !== null && Date.now() - this.pageLoadedAt < PAGE_TOKEN_MAX_AGE_MS) {
      const token = this.pageToken;
      this.pageToken = null;
      return token;
    }
    this.pageToken = null;
    let response: Response;
    try {
      response = await fetch(this.options.tokenUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
    } catch {
      return null; // offline: retried with backoff
    }
    let body: { token?: unknown; error?: unknown; code?: unknown } = {};
    try {
      body = (await response.json()) as typeof body;
    } catch {
      body = {};
    }
    if (response.ok && typeof body.token === "string") return body.token;
    if (response.status === 403 || response.status === 404) {
      // Refused for good (booking cancelled, tour over, logged out): retrying cannot help.
      this.fatal(String(body.code ?? "refused"), String(body.error ?? ""));
    }
    return null;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const token = await this.token();
    if (this.stopped) return;
    if (token === null) {
      this.scheduleRetry();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}${this.options.wsPath}?token=${encodeURIComponent(token)}`;
    let socket: WebSocket;
    try {
      socket = new WebSocket(url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (this.socket !== socket) return;
      const reconnected = this.openedOnce;
      this.openedOnce = true;
      this.attempt = 0;
      this.ping();
      window.clearInterval(this.pingTimer);
      this.pingTimer = window.setInterval(() => this.ping(), PING_INTERVAL_MS);
      this.options.handlers.onOpen(reconnected);
    });
    socket.addEventListener("message", (event: MessageEvent) => {
      if (this.socket !== socket) return;
      this.receive(event.data);
    });
    socket.addEventListener("close", (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      window.clearInterval(this.pingTimer);
      if (event.code === FATAL_CLOSE_CODE) {
        this.fatal("closed", event.reason);
        return;
      }
      this.options.handlers.onDisconnected();
      this.scheduleRetry();
    });
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    // A busy room writes the events of one moment as one frame: a JSON array, in order.
    for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
      if (this.stopped) return; // a fatal event (kicked, error) ended the connection
      if (typeof item !== "object" || item === null || typeof (item as Message).type !== "string") continue;
      this.handle(item as Message);
    }
  }

  private handle(message: Message): void {
    if (message.type === "pong") {
      this.options.clock.pong(Number(message.client_time), Number(message.server_time));
      return;
    }
    if (message.type === "welcome") this.options.clock.roughSample(Number(message.server_time));
    if (message.type === "error" && message.fatal === true) {
      this.fatal(String(message.code ?? "error"), String(message.message ?? ""));
      return;
    }
    if (message.type === "kicked") {
      this.fatal(String(message.code ?? "kicked"), String(message.message ?? ""));
      return;
    }
    this.options.handlers.onMessage(message);
  }

  private ping(): void {
    this.send({ type: "ping", client_time: Date.now() });
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const base = Math.min(1000 * 2 ** this.attempt, MAX_BACKOFF_MS);
    this.attempt += 1;
    // Jitter: after a server restart, every viewer must not come back in the same millisecond.
    const delay = base * (0.75 + Math.random() * 0.5);
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
  }
}
