import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import { detail, moment, summary, win, wins } from '../test/fixtures';
import { fakeApi } from '../test/fakeApi';

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

const now = Date.now();
const start = now - (now % 60_000) - 10 * 60_000;

describe('Overview', () => {
  const streams = [
    summary({ stream_id: 'nebula', viewers: 300, chat_rate: 9, title: 'Space talk', category: 'Science' }),
    summary({ stream_id: 'chesswhiz', viewers: 900, chat_rate: 2, live: false, latest_moment: moment({ description: 'Raided by someone' }) }),
    summary({ stream_id: 'pixelpioneer', viewers: 500, chat_rate: 5 }),
  ];
  const routes = {
    '/api/v1/streams': () => ({ items: streams, degraded: [] }),
    '/api/v1/streams/[a-z]+/metrics': () => ({ stream_id: 'x', resolution: '10s', items: wins(start, 5), next_cursor: null }),
  };

  it('lists the streams sorted by viewers, with live badges and the latest moment', async () => {
    const { api } = fakeApi(routes);
    render(<App api={api} />);
    const cards = await screen.findAllByTestId('stream-card');
    expect(cards.map((c) => c.dataset.streamId)).toEqual(['chesswhiz', 'pixelpioneer', 'nebula']);
    expect(within(cards[0]!).getByText('Offline')).toBeInTheDocument();
    expect(within(cards[0]!).getByText('Raided by someone')).toBeInTheDocument();
    expect(within(cards[2]!).getByText('Space talk')).toBeInTheDocument();
    expect(within(cards[1]!).getByTestId('card-viewers')).toHaveTextContent('500');
    await waitFor(() => expect(within(cards[1]!).getByTestId('sparkline')).toHaveAttribute('data-points', '5'));
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Live');
  });

  it('searches and sorts', async () => {
    const { api } = fakeApi(routes);
    render(<App api={api} />);
    await screen.findAllByTestId('stream-card');
    await userEvent.selectOptions(screen.getByLabelText('Sort by'), 'chat_rate');
    expect(screen.getAllByTestId('stream-card').map((c) => c.dataset.streamId)).toEqual(['nebula', 'pixelpioneer', 'chesswhiz']);
    await userEvent.type(screen.getByLabelText('Search'), 'science');
    expect(screen.getAllByTestId('stream-card').map((c) => c.dataset.streamId)).toEqual(['nebula']);
    await userEvent.clear(screen.getByLabelText('Search'));
    await userEvent.type(screen.getByLabelText('Search'), 'zzz');
    expect(screen.getByText('No stream matches “zzz”')).toBeInTheDocument();
  });

  it('shows an empty state', async () => {
    const { api } = fakeApi({ '/api/v1/streams': () => ({ items: [], degraded: [] }) });
    render(<App api={api} />);
    expect(await screen.findByText('No streams yet')).toBeInTheDocument();
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
    expect(await screen.findByRole('heading', { level: 1, name: 'nebula' })).toBeInTheDocument();
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
