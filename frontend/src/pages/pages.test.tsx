import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import { detail, moment, summary, win, wins } from '../test/fixtures';
import { fakeApi, fakeStreamList } from '../test/fakeApi';

class FakeSocket {
  static instances: FakeSocket[] = [];
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  readonly url: string;
  constructor(url: string) {
    this.url = url;
    FakeSocket.instances.push(this);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  push(data: unknown) {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(data) }));
  }
}

beforeEach(() => {
  FakeSocket.instances = [];
  vi.stubGlobal('WebSocket', FakeSocket);
});
afterEach(() => {
  vi.unstubAllGlobals();
  window.history.replaceState(null, '', '/');
});

const SLOW = { timeout: 5000 }; // a busy machine renders and debounces slower than the default second
const now = Date.now();
const start = now - (now % 60_000) - 10 * 60_000;

describe('Overview', () => {
  const streams = [
    summary({ stream_id: 'nebula', viewers: 300, chat_rate: 9, title: 'Space talk', category: 'Science' }),
    summary({ stream_id: 'chesswhiz', viewers: 900, chat_rate: 2, live: false, latest_moment: moment({ description: 'Raided by someone' }) }),
    summary({ stream_id: 'pixelpioneer', viewers: 500, chat_rate: 5 }),
  ];
  const metrics = () => ({ stream_id: 'x', resolution: '10s', items: wins(start, 5), next_cursor: null });
  const routes = { '/api/v1/streams': fakeStreamList(() => streams), '/api/v1/streams/[a-z0-9-]+/metrics': metrics };
  const listings = (fetch: ReturnType<typeof fakeApi>['fetch']) =>
    fetch.mock.calls
      .map(([request]) => new URL((request as Request).url))
      .filter((url) => url.pathname === '/api/v1/streams')
      .map((url) => Object.fromEntries(url.searchParams));

  it('lists the streams most-watched first, with live badges, counts and the latest moment', async () => {
    const { api, fetch } = fakeApi(routes);
    render(<App api={api} />);
    const cards = await screen.findAllByTestId('stream-card', {}, SLOW);
    expect(cards.map((c) => c.dataset.streamId)).toEqual(['chesswhiz', 'pixelpioneer', 'nebula']);
    expect(listings(fetch)[0]).toEqual({ sort: '-viewers', limit: '24' });
    expect(screen.getByTestId('stream-count')).toHaveTextContent('3 streams, 2 live');
    expect(screen.getByTestId('shown-count')).toHaveTextContent('Showing 3 of 3');
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
    expect(within(cards[0]!).getByText('Offline')).toBeInTheDocument();
    expect(within(cards[0]!).getByText('Raided by someone')).toBeInTheDocument();
    expect(within(cards[2]!).getByText('Space talk')).toBeInTheDocument();
    expect(within(cards[1]!).getByTestId('card-viewers')).toHaveTextContent('500');
    await waitFor(() => expect(within(cards[1]!).getByTestId('sparkline')).toHaveAttribute('data-points', '5'), SLOW);
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Live');
  });

  it('sorts and searches on the server, the search once typing pauses', async () => {
    const { api, fetch } = fakeApi(routes);
    render(<App api={api} />);
    await screen.findAllByTestId('stream-card', {}, SLOW);
    await userEvent.selectOptions(screen.getByLabelText('Sort by'), 'chat_rate');
    await waitFor(
      () =>
        expect(screen.getAllByTestId('stream-card').map((c) => c.dataset.streamId)).toEqual(['nebula', 'pixelpioneer', 'chesswhiz']),
      SLOW,
    );
    expect(listings(fetch).at(-1)).toEqual({ sort: '-chat_rate', limit: '24' });
    expect(window.location.search).toBe('?sort=chat_rate');

    await userEvent.type(screen.getByLabelText('Search'), 'science');
    await waitFor(() => expect(screen.getAllByTestId('stream-card').map((c) => c.dataset.streamId)).toEqual(['nebula']), SLOW);
    expect(listings(fetch).filter((query) => 'q' in query).map((query) => query.q)).toEqual(['science']); // not per key
    expect(screen.getByTestId('stream-count')).toHaveTextContent('1 stream matches, 1 live');
    expect(new URLSearchParams(window.location.search).get('q')).toBe('science');

    await userEvent.clear(screen.getByLabelText('Search'));
    await userEvent.type(screen.getByLabelText('Search'), 'zzz');
    expect(await screen.findByText('No stream matches “zzz”', {}, SLOW)).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText('Sort by'), 'name');
    await userEvent.clear(screen.getByLabelText('Search'));
    await waitFor(
      () =>
        expect(screen.getAllByTestId('stream-card').map((c) => c.dataset.streamId)).toEqual(['chesswhiz', 'nebula', 'pixelpioneer']),
      SLOW,
    );
    expect(listings(fetch).at(-1)).toEqual({ sort: 'stream_id', limit: '24' });
  });

  it('loads more streams with the server’s cursor', async () => {
    const many = Array.from({ length: 30 }, (_, i) => summary({ stream_id: `s${String(i).padStart(2, '0')}`, viewers: 1000 - i }));
    const { api, fetch } = fakeApi({ '/api/v1/streams': fakeStreamList(() => many), '/api/v1/streams/[a-z0-9-]+/metrics': metrics });
    render(<App api={api} />);
    expect(await screen.findAllByTestId('stream-card', {}, SLOW)).toHaveLength(24);
    expect(screen.getByTestId('shown-count')).toHaveTextContent('Showing 24 of 30');
    await userEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(screen.getAllByTestId('stream-card')).toHaveLength(30), SLOW);
    expect(screen.getAllByTestId('stream-card').map((c) => c.dataset.streamId)).toEqual(many.map((s) => s.stream_id));
    expect(listings(fetch).at(-1)).toEqual({ sort: '-viewers', limit: '24', cursor: '24' });
    expect(screen.getByTestId('shown-count')).toHaveTextContent('Showing 30 of 30');
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
  });

  it('shows an empty state', async () => {
    const { api } = fakeApi({ '/api/v1/streams': fakeStreamList(() => []) });
    render(<App api={api} />);
    expect(await screen.findByText('No streams yet', {}, SLOW)).toBeInTheDocument();
  });

  it('shows loading, then an error with a retry', async () => {
    const { api } = fakeApi({ '/api/v1/streams': () => new Response('{"detail":"store and cache unavailable","request_id":"r"}', { status: 503 }) });
    render(<App api={api} />);
    expect(screen.getByText('Loading streams…')).toBeInTheDocument();
    expect(await screen.findByText('Could not load the streams', {}, { timeout: 8000 })).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent('503 store and cache unavailable');
  }, 10_000);
});

describe('Stream page', () => {
  const history = wins(start, 30, (i) => ({ stream_id: 'nebula', viewers: 1000 + i, chat_rate: i === 20 ? 8 : 1 }));
  const raid = moment({
    moment_id: 'raid1',
    stream_id: 'nebula',
    start: new Date(start + 120_000).toISOString(),
    end: new Date(start + 120_000).toISOString(),
  });
  const current = win(start + 300_000, { stream_id: 'nebula', final: false, viewers: 4321, chat_rate: 12.5, sentiment: 0.31 });
  const routes = {
    '/api/v1/streams/nebula': () => detail({ stream_id: 'nebula', viewers: 4321, chat_rate: 12.5, live_window: current, latest_window: history[29]!, recent_moments: [raid] }),
    '/api/v1/streams/nebula/metrics': () => ({ stream_id: 'nebula', resolution: '10s', items: history, next_cursor: null }),
    '/api/v1/streams/nebula/moments': () => ({ stream_id: 'nebula', items: [raid], next_cursor: null }),
  };

  it('shows the current numbers, applies live pushes, and zooms to a moment', async () => {
    window.history.replaceState(null, '', '/streams/nebula');
    const { api, fetch } = fakeApi(routes);
    render(<App api={api} />);
    expect(await screen.findByRole('heading', { level: 1, name: 'nebula' }, SLOW)).toBeInTheDocument(); // a lazy chunk
    await waitFor(() => expect(screen.getByTestId('stat-viewers')).toHaveTextContent('4,321'));
    expect(screen.getByTestId('stat-chat-rate')).toHaveTextContent('12.5');
    expect(screen.getByTestId('stat-sentiment')).toHaveTextContent('+0.31');
    await waitFor(() => expect(screen.getByTestId('chart-chat-rate')).toHaveAttribute('data-points', '31'));

    const socket = FakeSocket.instances[0]!;
    expect(socket.url).toMatch(/\/ws\/live\/nebula$/);
    act(() => socket.open());
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Live');
    act(() =>
      socket.push({ type: 'live', stream_id: 'nebula', published_at: now / 1000, data: { ...current, window_start: new Date(start + 310_000).toISOString(), window_end: new Date(start + 370_000).toISOString(), viewers: 5000 } }),
    );
    expect(screen.getByTestId('stat-viewers')).toHaveTextContent('5,000');

    await userEvent.click(screen.getByTestId('moment'));
    expect(screen.getByTestId('zoom-banner')).toHaveTextContent('Zoomed to raid');
    expect(screen.getByTestId('moment')).toHaveAttribute('aria-pressed', 'true');
    const chart = screen.getByTestId('chart-chat-rate');
    expect(Number(chart.dataset.domainFrom)).toBe(start + 120_000 - 120_000);
    await waitFor(() =>
      expect(fetch.mock.calls.some(([request]) => new URL((request as Request).url).searchParams.has('to'))).toBe(true),
    );
    await userEvent.click(screen.getByRole('button', { name: 'Reset zoom' }));
    expect(screen.queryByTestId('zoom-banner')).not.toBeInTheDocument();
  });

  it('says when a stream does not exist', async () => {
    window.history.replaceState(null, '', '/streams/nope');
    const { api } = fakeApi({});
    render(<App api={api} />);
    expect(await screen.findByText('Unknown stream')).toBeInTheDocument();
  });
});

describe('Hot right now', () => {
  const hot = (stream_id: string, hype: number, category: string | null, extra: object = {}) => ({
    stream_id,
    title: null,
    category,
    viewers: 100,
    chat_rate: 6,
    baseline_chat_rate: 2,
    chat_ratio: 3,
    moments: 1,
    best_rank: 12.4,
    hype,
    last_activity: new Date(now).toISOString(),
    ...extra,
  });
  const all = [hot('nebula', 7.5, 'Science'), hot('pixelpioneer', 3.2, 'Games', { chat_ratio: null, moments: 0, best_rank: null }), hot('chesswhiz', 1.1, 'Games')];
  const routes = {
    '/api/v1/hot': (url: URL) => {
      const category = url.searchParams.get('category');
      const items = all.filter((s) => !category || s.category === category);
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 50);
      return {
        minutes: Number(url.searchParams.get('minutes') ?? 10),
        categories: ['Games', 'Science'],
        items: items.slice(start, start + limit),
        next_cursor: start + limit < items.length ? String(start + limit) : null,
      };
    },
  };

  it('ranks live streams as the server does, explains their hype, and filters by category in the URL', async () => {
    window.history.replaceState(null, '', '/hot');
    const { api, fetch } = fakeApi(routes);
    render(<App api={api} />);
    const rows = await screen.findAllByTestId('hot-stream', {}, SLOW);
    expect(rows.map((r) => r.dataset.streamId)).toEqual(['nebula', 'pixelpioneer', 'chesswhiz']);
    expect(rows[0]).toHaveTextContent('3.0× normal');
    expect(rows[0]).toHaveTextContent('1 (best rank 12)');
    expect(rows[1]).toHaveTextContent('no baseline yet');
    expect(within(rows[0]!).getByRole('link', { name: 'nebula' })).toHaveAttribute('href', '/streams/nebula');
    expect(screen.getByRole('link', { name: 'Hot right now' })).toHaveAttribute('aria-current', 'page');
    await userEvent.selectOptions(screen.getByLabelText('Category'), 'Games');
    await waitFor(() => expect(screen.getAllByTestId('hot-stream')).toHaveLength(2), SLOW);
    expect(window.location.search).toBe('?category=Games');
    const asked = fetch.mock.calls.map(([request]) => new URL((request as Request).url).searchParams.get('category'));
    expect(asked).toContain('Games');
  });
});
