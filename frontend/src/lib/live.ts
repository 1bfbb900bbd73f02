// The live connection of one stream: WebSocket with reconnects (exponential backoff with jitter), a status
// for the indicator, a callback to backfill from REST after a reconnect, and REST polling when WebSockets
// are blocked (they never open while REST answers).
import { parseLiveMessage, type LiveMessage } from '../api/types';

export type ConnectionStatus = 'connecting' | 'live' | 'polling' | 'reconnecting' | 'offline';

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

/** Delay before reconnect attempt `attempt` (1, 2, …): exponential up to a cap, with "equal jitter"
 *  (half fixed, half random) so clients that lost the same server do not come back in lockstep. */
export function backoffDelay(attempt: number, random: () => number, { baseMs, capMs }: BackoffOptions): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

type SocketLike = Pick<WebSocket, 'close' | 'readyState'> & {
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
};

export interface LiveConnectionOptions {
  url: string;
  onMessage: (message: LiveMessage) => void;
  onStatus: (status: ConnectionStatus, detail?: string) => void;
  /** Called when updates resume after an interruption (a reconnect, or the switch to polling): fetch what
   *  was missed from REST. */
  onResume: () => void;
  /** One REST poll (the fallback): fetch the current state and feed it; rejects when the API is down. */
  poll: () => Promise<void>;
  WebSocketImpl?: (new (url: string) => SocketLike) | null;
  random?: () => number;
  backoff?: BackoffOptions;
  /** Consecutive WebSocket attempts that never opened, while REST answers, before falling back to polling. */
  blockedAfter?: number;
  /** Failed attempts in a row after which the indicator says offline (reconnecting goes on). */
  offlineAfter?: number;
  pollMs?: number;
  /** While polling, how often to try the WebSocket again. */
  upgradeMs?: number;
  /** No message for this long (the server sends heartbeats every 15 s) means a dead connection. */
  staleMs?: number;
}

export class LiveConnection {
  private readonly options: Required<Omit<LiveConnectionOptions, 'WebSocketImpl'>> & {
    WebSocketImpl: LiveConnectionOptions['WebSocketImpl'];
  };
  private socket: SocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private staleTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private neverOpened = 0;
  private restAnswered = 0;
  private everConnected = false;
  private interrupted = false;
  private polling = false;
  private stopped = true;
  status: ConnectionStatus = 'connecting';

  constructor(options: LiveConnectionOptions) {
    this.options = {
      random: Math.random,
      backoff: { baseMs: 500, capMs: 10_000 },
      blockedAfter: 2,
      offlineAfter: 6,
      pollMs: 5_000,
      upgradeMs: 30_000,
      staleMs: 40_000,
      ...options,
      WebSocketImpl:
        options.WebSocketImpl === undefined
          ? typeof WebSocket === 'undefined'
            ? null
            : (WebSocket as unknown as new (url: string) => SocketLike)
          : options.WebSocketImpl,
    };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.setStatus('connecting');
    if (!this.options.WebSocketImpl) {
      void this.startPolling('WebSockets unavailable');
      return;
    }
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.closeSocket();
    this.polling = false;
  }

  /** Try now instead of waiting for the backoff (the browser came back online, the user clicked retry). */
  retryNow(): void {
    if (this.stopped) return;
    if (this.socket && this.socket.readyState <= 1) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    this.open();
  }

  /** The browser says the network is gone: say so, and let the next `retryNow` (on `online`) reconnect. */
  markOffline(): void {
    if (this.stopped) return;
    this.setStatus('offline', 'no network');
  }

  private setStatus(status: ConnectionStatus, detail?: string): void {
    this.status = status;
    this.options.onStatus(status, detail);
  }

  private open(): void {
    const Impl = this.options.WebSocketImpl!;
    let opened = false;
    let heard = false;
    let socket: SocketLike;
    try {
      socket = new Impl(this.options.url);
    } catch {
      this.neverOpened++;
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      opened = true;
      this.attempt = 0;
      const resumed = this.everConnected && this.interrupted;
      this.everConnected = true;
      this.interrupted = false;
      if (this.polling) this.stopPolling();
      this.setStatus('live');
      this.touch();
      if (resumed) this.options.onResume();
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      this.touch();
      if (!heard) {
        heard = true;
        this.neverOpened = 0;
        this.restAnswered = 0;
      }
      const message = typeof event.data === 'string' ? parseLiveMessage(event.data) : null;
      if (message) this.options.onMessage(message);
    };
    socket.onerror = () => {
      /* a close event follows */
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.staleTimer) clearTimeout(this.staleTimer);
      if (this.stopped) return;
      if (event.code === 4404) {
        // The stream has not reported yet (or was deleted): look again now and then.
        this.setStatus('offline', 'unknown stream');
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          this.timer = null;
          this.open();
        }, this.options.upgradeMs / 3);
        return;
      }
      this.interrupted = this.interrupted || opened || this.everConnected;
      // A socket that closes before its first message (the server always starts with a snapshot) is as
      // useless as one that never opened: some proxies accept the upgrade and then drop the connection.
      if (!heard) this.neverOpened++;
      if (this.polling) {
        this.scheduleUpgrade();
        return;
      }
      this.scheduleReconnect();
    };
  }

  private touch(): void {
    if (this.staleTimer) clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => {
      // No frame (not even a heartbeat) for too long: the connection is dead even if the OS has not noticed.
      const socket = this.socket;
      if (!socket) return;
      this.socket = null;
      socket.onclose = null;
      try {
        socket.close();
      } catch {
        /* already closed */
      }
      this.interrupted = true;
      this.scheduleReconnect();
    }, this.options.staleMs);
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.attempt++;
    this.setStatus(this.attempt > this.options.offlineAfter ? 'offline' : 'reconnecting');
    if (this.neverOpened >= this.options.blockedAfter) {
      // Either the API is down or WebSockets are blocked on the way: REST tells which.
      // Two REST successes in a row (a WebSocket attempt between them) rule out an API that was just
      // restarting.
      this.options.poll().then(
        () => {
          if (this.stopped || this.socket) return;
          this.restAnswered++;
          if (this.restAnswered >= 2) void this.startPolling('WebSocket blocked');
          else this.later(() => this.open());
        },
        () => {
          this.restAnswered = 0;
          this.later(() => this.open());
        },
      );
      return;
    }
    this.later(() => this.open());
  }

  private later(action: () => void): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = backoffDelay(this.attempt, this.options.random, this.options.backoff);
    this.timer = setTimeout(() => {
      this.timer = null;
      action();
    }, delay);
  }

  private async startPolling(reason: string): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    this.attempt = 0;
    this.setStatus('polling', reason);
    if (this.interrupted || this.everConnected) this.options.onResume();
    this.interrupted = false;
    const tick = async () => {
      if (!this.polling || this.stopped) return;
      try {
        await this.options.poll();
        if (this.polling) this.setStatus('polling', reason);
      } catch {
        if (this.polling) this.setStatus('reconnecting', 'API unreachable');
      }
      if (this.polling && !this.stopped) this.pollTimer = setTimeout(() => void tick(), this.options.pollMs);
    };
    this.pollTimer = setTimeout(() => void tick(), this.options.pollMs);
    if (this.options.WebSocketImpl) this.scheduleUpgrade();
  }

  private stopPolling(): void {
    this.polling = false;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  private scheduleUpgrade(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.open();
    }, this.options.upgradeMs);
  }

  private closeSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close();
    } catch {
      /* already closed */
    }
  }

  private clearTimers(): void {
    for (const timer of [this.timer, this.pollTimer, this.staleTimer]) if (timer) clearTimeout(timer);
    this.timer = this.pollTimer = this.staleTimer = null;
  }
}
