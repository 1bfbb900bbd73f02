import type { Moment, StreamDetail, StreamSummary, WindowMetrics } from '../api/types';

export const T0 = Date.UTC(2026, 10, 27, 17, 0, 0); // a minute boundary

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A 60 s window starting at `start` (epoch ms). */
export function win(start: number, overrides: Partial<WindowMetrics> = {}): WindowMetrics {
  return {
    stream_id: 'demo',
    window_start: iso(start),
    window_end: iso(start + 60_000),
    messages: 60,
    chat_rate: 1,
    unique_chatters: 20,
    top_emotes: [
      { emote: 'KEKW', count: 5 },
      { emote: 'LUL', count: 3 },
    ],
    sentiment: 0.2,
    positive: 30,
    neutral: 20,
    negative: 10,
    viewers: 1000,
    viewers_max: 1010,
    revenue_usd: 5,
    transactions: { sub: 1 },
    late_events: 0,
    bits: 0,
    emote_total: 8,
    final: true,
    ...overrides,
  };
}

/** Consecutive windows every 10 s from `start`. */
export function wins(start: number, count: number, overrides: (i: number) => Partial<WindowMetrics> = () => ({})) {
  return Array.from({ length: count }, (_, i) => win(start + i * 10_000, overrides(i)));
}

export function moment(overrides: Partial<Moment> = {}): Moment {
  return {
    moment_id: 'm1',
    stream_id: 'demo',
    kind: 'raid',
    start: iso(T0 + 120_000),
    end: iso(T0 + 120_000),
    metric: 'raid_viewers',
    value: 2275,
    baseline: 0,
    score: 2275,
    threshold: 0,
    description: 'Raided by tigershadow38 with 2,275 viewers',
    peak_at: iso(T0 + 120_000),
    detected_at: iso(T0 + 120_000),
    ongoing: false,
    ...overrides,
  };
}

export function summary(overrides: Partial<StreamSummary> = {}): StreamSummary {
  return {
    stream_id: 'demo',
    title: null,
    category: null,
    live: true,
    last_activity: iso(T0),
    viewers: 1000,
    chat_rate: 1,
    latest_moment: null,
    window_seconds: 60,
    slide_seconds: 10,
    ...overrides,
  };
}

export function detail(overrides: Partial<StreamDetail> = {}): StreamDetail {
  return {
    ...summary(),
    latest_window: null,
    live_window: null,
    recent_moments: [],
    dead_letters: 0,
    degraded: [],
    ...overrides,
  };
}
