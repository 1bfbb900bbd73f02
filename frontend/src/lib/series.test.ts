import { describe, expect, it } from 'vitest';
import { iso, moment, T0, win, wins } from '../test/fixtures';
import {
  addHistory,
  addRawWindows,
  backfillFrom,
  emptySeries,
  emotesOver,
  findPeaks,
  hypeScore,
  mergeMoments,
  mergeWindows,
  rollup,
  toChartPoints,
  totals,
  trimBefore,
  viewerChange,
  zoomSpan,
} from './series';

const starts = (list: { window_start: string }[]) => list.map((w) => Date.parse(w.window_start));

describe('mergeWindows', () => {
  it('merges history and live points by window start: sorted, no duplicates', () => {
    const history = wins(T0, 6);
    const live = wins(T0 + 40_000, 4, () => ({ chat_rate: 9 }));
    const merged = mergeWindows(history, live);
    expect(starts(merged)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => T0 + i * 10_000));
    expect(merged[4]!.chat_rate).toBe(9); // the later arrival of a closed window wins
  });

  it('treats …:20Z and …:20.000Z as the same window', () => {
    const a = win(T0, { window_start: '2026-11-27T17:00:00Z' });
    const b = win(T0, { window_start: '2026-11-27T17:00:00.000Z', messages: 99 });
    const merged = mergeWindows([a], [b]);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.messages).toBe(99);
  });

  it('replaces a provisional view by the closed window, never the other way round', () => {
    const provisional = win(T0, { final: false, messages: 10 });
    const closed = win(T0, { final: true, messages: 60 });
    expect(mergeWindows([provisional], [closed])[0]).toBe(closed);
    expect(mergeWindows([closed], [win(T0, { final: false, messages: 70 })])[0]).toBe(closed);
    const newer = win(T0, { final: false, messages: 20 });
    expect(mergeWindows([provisional], [newer])[0]).toBe(newer);
  });

  it('sorts out-of-order arrivals and ignores unparsable starts', () => {
    const merged = mergeWindows([win(T0 + 20_000)], [win(T0), win(T0 + 10_000), { ...win(T0), window_start: 'x' }]);
    expect(starts(merged)).toEqual([T0, T0 + 10_000, T0 + 20_000]);
  });

  it('trims windows before a time', () => {
    expect(starts(trimBefore(wins(T0, 4), T0 + 15_000))).toEqual([T0 + 20_000, T0 + 30_000]);
    expect(trimBefore(wins(T0, 2), T0 + 60_000)).toEqual([]);
  });
});

describe('rollup (same rules as the service)', () => {
  const tiles = [
    win(T0, { messages: 60, sentiment: 0.5, viewers: 100, viewers_max: 120, revenue_usd: 1.5, transactions: { sub: 1 } }),
    win(T0 + 60_000, { messages: 120, sentiment: -0.1, viewers: 150, viewers_max: 160, revenue_usd: 2.25, transactions: { sub: 2, bits: 1 }, unique_chatters: 40 }),
    win(T0 + 120_000, { messages: 0, sentiment: null, viewers: null, viewers_max: null, revenue_usd: 0, transactions: {}, final: false }),
  ];

  it('merges the tiling windows of each bucket', () => {
    const [bucket, ...rest] = rollup([...tiles, win(T0 + 10_000, { messages: 999 })], 300_000);
    expect(rest).toHaveLength(0);
    expect(bucket!.window_start).toBe(iso(T0));
    expect(bucket!.window_end).toBe(iso(T0 + 300_000));
    expect(bucket!.messages).toBe(180); // the overlapping 10 s window is not counted
    expect(bucket!.chat_rate).toBeCloseTo(180 / 300, 6);
    expect(bucket!.sentiment).toBeCloseTo((0.5 * 60 - 0.1 * 120) / 180, 9);
    expect(bucket!.viewers).toBe(150); // last sample
    expect(bucket!.viewers_max).toBe(160);
    expect(bucket!.revenue_usd).toBe(3.75);
    expect(bucket!.transactions).toEqual({ bits: 1, sub: 3 });
    expect(bucket!.unique_chatters).toBe(40); // the largest minute's (a lower bound)
    expect(bucket!.positive).toBe(90);
    expect(bucket!.final).toBe(false);
    expect(bucket!.top_emotes).toEqual([
      { emote: 'KEKW', count: 15 },
      { emote: 'LUL', count: 9 },
    ]);
  });

  it('puts tiles in epoch-aligned buckets', () => {
    const buckets = rollup([win(T0 + 240_000), win(T0 + 300_000)], 300_000);
    expect(starts(buckets)).toEqual([T0, T0 + 300_000]);
  });
});

describe('series at a resolution', () => {
  it('10 s keeps every window; 1 m keeps the tiling ones', () => {
    const raw = wins(T0, 12);
    expect(addRawWindows(emptySeries('10s'), raw).windows).toHaveLength(12);
    expect(starts(addRawWindows(emptySeries('1m'), raw).windows)).toEqual([T0, T0 + 60_000]);
  });

  it('follows the windows\' own length: 30 s windows sliding every 5 s tile a minute two at a time', () => {
    const short = (start: number, messages: number) =>
      win(start, { window_end: new Date(start + 30_000).toISOString(), messages });
    const raw = Array.from({ length: 24 }, (_, i) => short(T0 + i * 5_000, i)); // two minutes
    expect(addRawWindows(emptySeries('10s'), raw).windows).toHaveLength(24);
    const minutes = addRawWindows(emptySeries('1m'), raw).windows;
    expect(starts(minutes)).toEqual([T0, T0 + 60_000]);
    // the tiles of the first minute start at T0 (0 messages) and T0+30 s (6): no overlapping window counted
    expect(minutes.map((w) => w.messages)).toEqual([0 + 6, 12 + 18]);
    expect(minutes.every((w) => Date.parse(w.window_end) - Date.parse(w.window_start) === 60_000)).toBe(true);
    expect(totals(raw, '10s').messages).toBe(0 + 6 + 12 + 18);
  });

  it('5 m rebuilds the open bucket from its tiles as live windows arrive', () => {
    let series = addHistory(emptySeries('5m'), rollup([win(T0), win(T0 + 60_000)], 300_000), [win(T0), win(T0 + 60_000)]);
    expect(series.windows[0]!.messages).toBe(120);
    series = addRawWindows(series, wins(T0 + 60_000, 7, (i) => ({ messages: 30 + i })));
    // tiles: T0 (60), T0+60 s (replaced: 30), T0+120 s (36)
    expect(series.windows).toHaveLength(1);
    expect(series.windows[0]!.messages).toBe(60 + 30 + 36);
    series = addRawWindows(series, [win(T0 + 300_000, { messages: 5 })]);
    expect(starts(series.windows)).toEqual([T0, T0 + 300_000]);
    expect(series.windows[1]!.messages).toBe(5);
  });

  it('backfills from the newest closed window (or the fallback)', () => {
    const series = addRawWindows(emptySeries('10s'), [...wins(T0, 3), win(T0 + 30_000, { final: false })]);
    expect(backfillFrom(series, T0 - 1)).toBe(T0 + 20_000);
    expect(backfillFrom(emptySeries('10s'), 42)).toBe(42);
    expect(backfillFrom(addRawWindows(emptySeries('1m'), wins(T0, 8)), 0)).toBe(T0 + 60_000);
  });
});

describe('chart points', () => {
  it('places points at the window end and breaks lines across gaps', () => {
    const points = toChartPoints([...wins(T0, 2), win(T0 + 120_000)], 10_000);
    expect(points.map((p) => p.t)).toEqual([T0 + 60_000, T0 + 70_000, T0 + 80_000, T0 + 180_000]);
    expect(points[2]!.chatRate).toBeNull();
    expect(points[0]!.positive).toBe(50);
  });

  it('marks separated peaks that stand out', () => {
    const rates = [1, 1, 5, 1, 1, 1, 1, 1, 1, 4, 1, 1, 1, 1.05, 1];
    const points = toChartPoints(wins(T0, rates.length, (i) => ({ chat_rate: rates[i]! })), 10_000);
    expect(findPeaks(points, 'chatRate').map((p) => p.chatRate)).toEqual([5, 4]);
    expect(findPeaks(points.slice(0, 2), 'chatRate')).toEqual([]);
  });
});

describe('panels', () => {
  it('sums only tiling windows at 10 s (overlapping windows would count events six times)', () => {
    const result = totals(wins(T0, 12), '10s');
    expect(result.revenue).toBe(10);
    expect(result.transactions).toEqual({ sub: 2 });
    expect(totals(wins(T0, 12), '10s', T0 + 30_000).revenue).toBe(5);
  });

  it('sums emotes over tiling windows', () => {
    expect(emotesOver(wins(T0, 12))).toEqual([
      { emote: 'KEKW', count: 10 },
      { emote: 'LUL', count: 6 },
    ]);
  });

  it('compares viewers with about five minutes earlier', () => {
    const history = wins(T0, 40, (i) => ({ viewers: 1000 + i * 10 }));
    const change = viewerChange(history, 1500);
    expect(change).toEqual({ delta: 1500 - 1090, percent: 37.6, since: T0 + 9 * 10_000 + 60_000 });
    expect(viewerChange([], 10)).toBeNull();
    expect(viewerChange(history, null)).toBeNull();
  });

  it('scores hype against the median chat rate, lifted by a fresh moment', () => {
    const windows = wins(T0, 5, (i) => ({ chat_rate: i === 4 ? 4 : 1 }));
    expect(hypeScore(windows, null, T0)).toBe(4);
    expect(hypeScore(windows, moment({ ongoing: true }), T0)).toBe(4.5);
    expect(hypeScore([], null, T0)).toBe(0);
  });
});

describe('moments', () => {
  it('upserts by id, newest first', () => {
    const a = moment({ moment_id: 'a', start: iso(T0) });
    const b = moment({ moment_id: 'b', start: iso(T0 + 60_000), end: iso(T0 + 60_000), detected_at: iso(T0 + 60_000), ongoing: true });
    const grown = { ...b, end: iso(T0 + 90_000), detected_at: iso(T0 + 90_000), ongoing: false };
    const merged = mergeMoments(mergeMoments([a], [b]), [grown, a]);
    expect(merged.map((m) => m.moment_id)).toEqual(['b', 'a']);
    expect(merged[0]!.ongoing).toBe(false);
  });

  it('zooms to a moment with context', () => {
    const span = zoomSpan(moment({ start: iso(T0), end: iso(T0 + 30_000), peak_at: iso(T0 + 10_000) }));
    expect(span).toEqual({ from: T0 - 120_000, to: T0 + 150_000 });
  });
});
