import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, LiveConnection, type ConnectionStatus, type LiveConnectionOptions } from './live';

class FakeSocket {
  static instances: FakeSocket[] = [];
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  closed = false;
  readonly url: string;
  constructor(url: string) {
    this.url = url;
    FakeSocket.instances.push(this);
  }
  close() {
    this.closed = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  send(data: unknown) {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(data) }));
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }
}

const latest = () => FakeSocket.instances[FakeSocket.instances.length - 1]!;

function connect(overrides: Partial<LiveConnectionOptions> = {}) {
  const statuses: ConnectionStatus[] = [];
  const messages: unknown[] = [];
  const onResume = vi.fn();
  const poll = vi.fn(() => Promise.resolve());
  const connection = new LiveConnection({
    url: 'ws://test/ws/live/demo',
    onMessage: (m) => messages.push(m),
    onStatus: (s) => {
      if (statuses[statuses.length - 1] !== s) statuses.push(s);
    },
    onResume,
    poll,
    WebSocketImpl: FakeSocket,
    random: () => 0.5,
    ...overrides,
  });
  connection.start();
  return { connection, statuses, messages, onResume, poll };
}

beforeEach(() => {
  FakeSocket.instances = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay', () => {
  it('grows exponentially to a cap, with jitter in the upper half', () => {
    const options = { baseMs: 500, capMs: 10_000 };
    expect(backoffDelay(1, () => 0, options)).toBe(250);
    expect(backoffDelay(1, () => 1, options)).toBe(500);
    expect(backoffDelay(3, () => 0.5, options)).toBe(1500);
    expect(backoffDelay(10, () => 1, options)).toBe(10_000);
    expect(backoffDelay(10, () => 0, options)).toBe(5_000);
  });
});

describe('LiveConnection', () => {
  it('goes live on open and passes messages on', () => {
    const { statuses, messages } = connect();
    latest().open();
    latest().send({ type: 'heartbeat', stream_id: 'demo', ts: 1 });
    latest().send({ type: 'nonsense' });
    expect(statuses).toEqual(['connecting', 'live']);
    expect(messages).toHaveLength(1);
  });

  it('reconnects with backoff after a drop, then asks for a backfill', () => {
    const { statuses, onResume } = connect();
    latest().open();
    latest().send({ type: 'heartbeat', stream_id: 'demo', ts: 1 });
    latest().drop();
    expect(statuses).toEqual(['connecting', 'live', 'reconnecting']);
    expect(FakeSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(374); // attempt 1: 250–500 ms, 375 with random 0.5
    expect(FakeSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.instances).toHaveLength(2);
    latest().drop(); // the server is still down: attempt 2 waits longer
    vi.advanceTimersByTime(749);
    expect(FakeSocket.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.instances).toHaveLength(3);
    expect(onResume).not.toHaveBeenCalled();
    latest().open();
    expect(statuses[statuses.length - 1]).toBe('live');
    expect(onResume).toHaveBeenCalledTimes(1);
  });

  it('keeps probing while the API is down and says offline after a while', async () => {
    const poll = vi.fn(() => Promise.reject(new Error('down')));
    const { statuses } = connect({ poll, offlineAfter: 3 });
    for (let i = 0; i < 5; i++) {
      latest().drop();
      await vi.runOnlyPendingTimersAsync();
    }
    expect(statuses).toEqual(['connecting', 'reconnecting', 'offline']);
    expect(poll).toHaveBeenCalled();
    latest().open();
    expect(statuses[statuses.length - 1]).toBe('live');
  });

  it('falls back to REST polling when WebSockets never open but REST answers', async () => {
    const { statuses, poll, onResume } = connect({ pollMs: 5_000, upgradeMs: 30_000 });
    latest().drop(); // attempt 1 never opened
    await vi.advanceTimersByTimeAsync(400);
    latest().drop(); // 2nd: probe REST (ok once)
    await vi.advanceTimersByTimeAsync(1_000);
    latest().drop(); // 3rd: REST ok again → polling
    await vi.advanceTimersByTimeAsync(0);
    expect(statuses[statuses.length - 1]).toBe('polling');
    const polls = poll.mock.calls.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(poll.mock.calls.length).toBe(polls + 2);
    expect(onResume).not.toHaveBeenCalled(); // it was never connected: nothing to backfill
    // Later the WebSocket works again: back to live pushes, polling stops.
    const sockets = FakeSocket.instances.length;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.instances.length).toBe(sockets + 1);
    latest().open();
    expect(statuses[statuses.length - 1]).toBe('live');
    const after = poll.mock.calls.length;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(poll.mock.calls.length).toBe(after);
  });

  it('treats sockets that open but close before any message as blocked', async () => {
    const { statuses } = connect();
    for (let i = 0; i < 3; i++) {
      latest().open();
      latest().drop();
      await vi.advanceTimersByTimeAsync(2_000);
    }
    expect(statuses[statuses.length - 1]).toBe('polling');
  });

  it('polls right away where WebSocket does not exist', async () => {
    const { statuses, poll } = connect({ WebSocketImpl: null, pollMs: 1_000 });
    expect(statuses).toEqual(['connecting', 'polling']);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(poll).toHaveBeenCalledTimes(3);
  });

  it('reconnects when the connection goes silent (no heartbeat)', () => {
    const { statuses } = connect({ staleMs: 40_000 });
    latest().open();
    vi.advanceTimersByTime(39_000);
    latest().send({ type: 'heartbeat', stream_id: 'demo', ts: 1 });
    vi.advanceTimersByTime(39_000);
    expect(statuses[statuses.length - 1]).toBe('live');
    vi.advanceTimersByTime(2_000);
    expect(statuses[statuses.length - 1]).toBe('reconnecting');
    expect(FakeSocket.instances[0]!.closed).toBe(true);
  });

  it('looks again slowly for an unknown stream, and stops on stop()', () => {
    const { statuses, connection } = connect({ upgradeMs: 30_000 });
    latest().drop(4404);
    expect(statuses[statuses.length - 1]).toBe('offline');
    vi.advanceTimersByTime(9_999);
    expect(FakeSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.instances).toHaveLength(2);
    connection.stop();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('retries immediately when the browser is back online', () => {
    const { connection, statuses } = connect();
    latest().open();
    connection.markOffline();
    latest().drop();
    expect(statuses).toContain('offline');
    connection.retryNow();
    expect(FakeSocket.instances).toHaveLength(2);
  });
});
