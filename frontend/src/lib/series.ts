// Pure transforms of window metrics: merging history with live points, roll-ups, totals, peaks.
// A stream's windows are `window_seconds` long and start every `slide_seconds` (60 s and 10 s by default); a
// window is identified by its start (`window_start`).
import type { Moment, Resolution, TopEmote, WindowMetrics } from '../api/types';

export const STEP_MS: Record<Resolution, number> = { '10s': 10_000, '1m': 60_000, '5m': 300_000 };

export type RangeKey = '15m' | '1h' | '6h' | '24h';
export const RANGES: Record<RangeKey, { label: string; ms: number; resolution: Resolution }> = {
  '15m': { label: '15 min', ms: 15 * 60_000, resolution: '10s' },
  '1h': { label: '1 hour', ms: 60 * 60_000, resolution: '10s' },
  '6h': { label: '6 hours', ms: 6 * 3600_000, resolution: '1m' },
  '24h': { label: '24 hours', ms: 24 * 3600_000, resolution: '5m' },
};
export const RANGE_KEYS = Object.keys(RANGES) as RangeKey[];

/** RFC 3339 → epoch ms (the API writes both `…:20Z` and `…:20.000Z`; keys must not depend on that). */
export function ms(text: string): number {
  return Date.parse(text);
}

export function startMs(window: WindowMetrics): number {
  return ms(window.window_start);
}

export function endMs(window: WindowMetrics): number {
  return ms(window.window_end);
}

/** Tiling windows start on a multiple of their own length: they are the stream's non-overlapping windows
 *  (its minutes, with the default 60 s windows), whatever its geometry. */
export function isTiling(window: WindowMetrics): boolean {
  const length = endMs(window) - startMs(window);
  return length > 0 && startMs(window) % length === 0;
}

/** Which of two records of the same window to keep: a closed (final) window beats a provisional view;
 *  between two of the same kind, the later arrival wins. A provisional view never replaces a final one. */
function preferred(current: WindowMetrics, incoming: WindowMetrics): WindowMetrics {
  if (current.final && !incoming.final) return current;
  return incoming;
}

/** Merge windows into a series keyed by window start: sorted oldest first, no duplicates. */
export function mergeWindows(series: readonly WindowMetrics[], incoming: readonly WindowMetrics[]): WindowMetrics[] {
  if (incoming.length === 0) return series as WindowMetrics[];
  const byStart = new Map<number, WindowMetrics>();
  for (const window of series) byStart.set(startMs(window), window);
  let appendOnly = true;
  const last = series.length ? startMs(series[series.length - 1]!) : -Infinity;
  for (const window of incoming) {
    const key = startMs(window);
    if (Number.isNaN(key)) continue;
    const current = byStart.get(key);
    byStart.set(key, current ? preferred(current, window) : window);
    if (key <= last) appendOnly = false;
  }
  const merged = [...byStart.values()];
  if (!appendOnly || incoming.length > 1) merged.sort((a, b) => startMs(a) - startMs(b));
  return merged;
}

/** Drop windows that start before `fromMs` (the chart range moved on). */
export function trimBefore(series: readonly WindowMetrics[], fromMs: number): WindowMetrics[] {
  const index = series.findIndex((w) => startMs(w) >= fromMs);
  return index <= 0 ? (index === 0 ? (series as WindowMetrics[]) : []) : series.slice(index);
}

// -- roll-ups (the same rules as services/src/telemetra/services/rollup.py) ----------------------------------

const TOP_EMOTES = 10;

/** Rank emote counts: most used first, ties by name (as the analytics core does). */
export function rankEmotes(counts: Map<string, number>, limit = TOP_EMOTES): TopEmote[] {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, limit)
    .map(([emote, count]) => ({ emote, count }));
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** One record for [bucketStart, bucketStart + lengthMs) from the tiling windows inside it (oldest first). */
export function mergeBucket(
  streamId: string,
  bucketStart: number,
  lengthMs: number,
  windows: readonly WindowMetrics[],
): WindowMetrics {
  const emotes = new Map<string, number>();
  const transactions = new Map<string, number>();
  let messages = 0;
  let weightedSum = 0;
  let weight = 0;
  for (const window of windows) {
    messages += window.messages;
    for (const { emote, count } of window.top_emotes) emotes.set(emote, (emotes.get(emote) ?? 0) + count);
    for (const [kind, count] of Object.entries(window.transactions)) {
      transactions.set(kind, (transactions.get(kind) ?? 0) + count);
    }
    if (window.sentiment !== null && window.messages) {
      weightedSum += window.sentiment * window.messages;
      weight += window.messages;
    }
  }
  const samples = windows.map((w) => w.viewers).filter((v): v is number => v !== null);
  const maxima = windows.map((w) => w.viewers_max).filter((v): v is number => v !== null);
  const sum = (pick: (w: WindowMetrics) => number) => windows.reduce((total, w) => total + pick(w), 0);
  return {
    stream_id: streamId,
    window_start: new Date(bucketStart).toISOString(),
    window_end: new Date(bucketStart + lengthMs).toISOString(),
    messages,
    chat_rate: round(messages / (lengthMs / 1000), 6),
    unique_chatters: windows.reduce((best, w) => Math.max(best, w.unique_chatters), 0),
    top_emotes: rankEmotes(emotes),
    sentiment: weight ? round(weightedSum / weight, 9) : null,
    positive: sum((w) => w.positive),
    neutral: sum((w) => w.neutral),
    negative: sum((w) => w.negative),
    viewers: samples.length ? samples[samples.length - 1]! : null,
    viewers_max: maxima.length ? Math.max(...maxima) : null,
    revenue_usd: round(sum((w) => w.revenue_usd), 6),
    transactions: Object.fromEntries([...transactions.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
    late_events: sum((w) => w.late_events),
    bits: sum((w) => w.bits),
    emote_total: sum((w) => w.emote_total),
    final: windows.every((w) => w.final),
  };
}

/** Roll tiling windows up into buckets of `lengthMs` aligned to the epoch (non-tiling windows are ignored). */
export function rollup(windows: readonly WindowMetrics[], lengthMs: number): WindowMetrics[] {
  const grouped = new Map<number, WindowMetrics[]>();
  for (const window of windows) {
    if (!isTiling(window)) continue;
    const start = startMs(window);
    const bucket = start - (start % lengthMs);
    const list = grouped.get(bucket);
    if (list) list.push(window);
    else grouped.set(bucket, [window]);
  }
  return [...grouped.entries()]
    .sort(([a], [b]) => a - b)
    .map(([bucket, list]) =>
      mergeBucket(list[0]!.stream_id, bucket, lengthMs, [...list].sort((a, b) => startMs(a) - startMs(b))),
    );
}

// -- one chart's series at a resolution --------------------------------------------------------------------

/** The windows shown at a resolution, and for 5-minute buckets the minute tiles of the open buckets. */
export interface Series {
  resolution: Resolution;
  windows: WindowMetrics[];
  tiles: WindowMetrics[];
}

export function emptySeries(resolution: Resolution): Series {
  return { resolution, windows: [], tiles: [] };
}

/** Add 10 s windows (live pushes, REST backfill at 10 s) to a series of any resolution:
 *  10 s keeps every window; a resolution as long as the tiling windows keeps them; a longer one re-computes
 *  the buckets their tiles fall in (1 m of 30 s windows, 5 m of minutes). */
export function addRawWindows(series: Series, incoming: readonly WindowMetrics[]): Series {
  if (incoming.length === 0) return series;
  if (series.resolution === '10s') return { ...series, windows: mergeWindows(series.windows, incoming) };
  const tiling = incoming.filter(isTiling);
  if (tiling.length === 0) return series;
  const step = STEP_MS[series.resolution];
  if (tiling.every((t) => endMs(t) - startMs(t) === step)) {
    return { ...series, windows: mergeWindows(series.windows, tiling) };
  }
  return addTiles(series, tiling);
}

/** Add minute tiles to a 5-minute series: the buckets they touch are rebuilt from all tiles held for them. */
export function addTiles(series: Series, tiles: readonly WindowMetrics[]): Series {
  const length = STEP_MS[series.resolution];
  const merged = mergeWindows(series.tiles, tiles.filter(isTiling));
  const touched = new Set(tiles.map((t) => startMs(t) - (startMs(t) % length)));
  const inTouched = merged.filter((t) => touched.has(startMs(t) - (startMs(t) % length)));
  const buckets = rollup(inTouched, length);
  // A bucket rebuilt from tiles replaces the server's roll-up even if it is provisional: it is newer.
  const byStart = new Map(series.windows.map((w) => [startMs(w), w] as const));
  for (const bucket of buckets) byStart.set(startMs(bucket), bucket);
  const windows = [...byStart.values()].sort((a, b) => startMs(a) - startMs(b));
  // Keep only the tiles of the two newest buckets: older buckets are complete.
  const keepFrom = windows.length >= 2 ? startMs(windows[windows.length - 2]!) : -Infinity;
  return { ...series, windows, tiles: merged.filter((t) => startMs(t) >= keepFrom) };
}

/** History from REST at the series' resolution (and the minute tiles of the newest buckets, for 5 m). */
export function addHistory(series: Series, windows: readonly WindowMetrics[], tiles: readonly WindowMetrics[] = []): Series {
  const next = { ...series, windows: mergeWindows(series.windows, windows) };
  return tiles.length ? addTiles(next, tiles) : next;
}

/** Where a backfill after a reconnect starts: the newest closed window we have (its record may have been
 *  provisional here), or `fallback` when there is none. Merging by window start makes the overlap harmless. */
export function backfillFrom(series: Series, fallback: number): number {
  const source = series.resolution === '5m' ? series.tiles.concat(series.windows) : series.windows;
  let newestFinal = -Infinity;
  for (const w of source) if (w.final) newestFinal = Math.max(newestFinal, startMs(w));
  if (!Number.isFinite(newestFinal)) return fallback;
  const bucket = STEP_MS[series.resolution];
  return Math.max(fallback, newestFinal - (newestFinal % bucket));
}

// -- chart points ------------------------------------------------------------------------------------------

export interface ChartPoint {
  /** Window end, epoch ms: where the point sits on the time axis. */
  t: number;
  start: number;
  chatRate: number | null;
  viewers: number | null;
  viewersMax: number | null;
  sentiment: number | null;
  positive: number | null;
  neutral: number | null;
  negative: number | null;
  messages: number | null;
  final: boolean;
}

/** Chart points (window end on the time axis) with a null point inserted across gaps longer than three
 *  steps, so lines break where the stream was not reporting instead of drawing a misleading slope. */
export function toChartPoints(windows: readonly WindowMetrics[], stepMs: number): ChartPoint[] {
  const points: ChartPoint[] = [];
  let previous: number | null = null;
  for (const window of windows) {
    const start = startMs(window);
    const t = endMs(window);
    if (previous !== null && t - previous > 3 * stepMs) {
      points.push(gapPoint(previous + stepMs));
    }
    const classified = window.positive + window.neutral + window.negative;
    const share = (n: number) => (classified ? round((100 * n) / classified, 2) : null);
    points.push({
      t,
      start,
      chatRate: window.chat_rate,
      viewers: window.viewers,
      viewersMax: window.viewers_max,
      sentiment: window.sentiment,
      positive: share(window.positive),
      neutral: share(window.neutral),
      negative: share(window.negative),
      messages: window.messages,
      final: window.final,
    });
    previous = t;
  }
  return points;
}

function gapPoint(t: number): ChartPoint {
  return {
    t,
    start: t,
    chatRate: null,
    viewers: null,
    viewersMax: null,
    sentiment: null,
    positive: null,
    neutral: null,
    negative: null,
    messages: null,
    final: true,
  };
}

/** The `count` highest local maxima of `key`, at least `separation` points apart, that stand out from the
 *  median by `factor`. Returned highest first. */
export function findPeaks(
  points: readonly ChartPoint[],
  key: 'chatRate' | 'viewers',
  { count = 3, separation = 6, factor = 1.15 }: { count?: number; separation?: number; factor?: number } = {},
): ChartPoint[] {
  const values = points.map((p) => p[key]).filter((v): v is number => v !== null);
  if (values.length < 3) return [];
  const median = quantile(values, 0.5);
  const candidates = points
    .map((point, index) => ({ point, index, value: point[key] }))
    .filter((c): c is { point: ChartPoint; index: number; value: number } => c.value !== null)
    .filter(({ index, value }) => {
      const before = points[index - 1]?.[key] ?? -Infinity;
      const after = points[index + 1]?.[key] ?? -Infinity;
      return value >= before && value >= after && value > median * factor && value > 0;
    })
    .sort((a, b) => b.value - a.value);
  const chosen: typeof candidates = [];
  for (const candidate of candidates) {
    if (chosen.every((c) => Math.abs(c.index - candidate.index) >= separation)) chosen.push(candidate);
    if (chosen.length === count) break;
  }
  return chosen.map((c) => c.point);
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

// -- panels ------------------------------------------------------------------------------------------------

export interface Totals {
  revenue: number;
  bits: number;
  messages: number;
  transactions: Record<string, number>;
}

/** Sums over a span. Overlapping 10 s windows would count each event six times, so only tiling windows
 *  (and buckets built from them) are added up. */
export function totals(windows: readonly WindowMetrics[], resolution: Resolution, from = -Infinity, to = Infinity): Totals {
  const result: Totals = { revenue: 0, bits: 0, messages: 0, transactions: {} };
  for (const window of windows) {
    const start = startMs(window);
    if (start < from || start >= to) continue;
    if (resolution === '10s' && !isTiling(window)) continue;
    result.revenue += window.revenue_usd;
    result.bits += window.bits;
    result.messages += window.messages;
    for (const [kind, count] of Object.entries(window.transactions)) {
      result.transactions[kind] = (result.transactions[kind] ?? 0) + count;
    }
  }
  result.revenue = round(result.revenue, 2);
  return result;
}

/** Top emotes summed over the tiling windows in a span (or the given windows when none tile). */
export function emotesOver(windows: readonly WindowMetrics[], limit = 24): TopEmote[] {
  const tiling = windows.filter(isTiling);
  const counts = new Map<string, number>();
  for (const window of tiling.length ? tiling : windows.slice(-1)) {
    for (const { emote, count } of window.top_emotes) counts.set(emote, (counts.get(emote) ?? 0) + count);
  }
  return rankEmotes(counts, limit);
}

/** Viewer change against the newest sample at least `lookbackMs` older than the latest one. */
export function viewerChange(
  windows: readonly WindowMetrics[],
  current: number | null,
  lookbackMs = 5 * 60_000,
): { delta: number; percent: number | null; since: number } | null {
  if (current === null) return null;
  const withViewers = windows.filter((w) => w.viewers !== null);
  const latest = withViewers[withViewers.length - 1];
  if (!latest) return null;
  const cutoff = endMs(latest) - lookbackMs;
  let reference: WindowMetrics | undefined;
  for (const window of withViewers) {
    if (endMs(window) <= cutoff) reference = window;
    else break;
  }
  reference ??= withViewers[0];
  if (!reference || reference === latest) return null;
  const before = reference.viewers!;
  const delta = current - before;
  return { delta, percent: before ? round((100 * delta) / before, 1) : null, since: endMs(reference) };
}

/** Hype: the current chat rate against the stream's median over the span (1 = normal, 2 = twice as busy),
 *  lifted while a moment is ongoing or fresh (within 5 minutes). */
export function hypeScore(windows: readonly WindowMetrics[], latestMoment: Moment | null, now: number): number {
  const rates = windows.map((w) => w.chat_rate);
  const current = rates[rates.length - 1];
  if (current === undefined) return 0;
  const median = quantile(rates, 0.5);
  let score = median > 0 ? current / median : current > 0 ? 1 : 0;
  if (latestMoment && (latestMoment.ongoing || now - ms(latestMoment.end) < 5 * 60_000)) score += 0.5;
  return round(score, 2);
}

// -- moments -----------------------------------------------------------------------------------------------

/** Upsert moments by id (a re-emitted moment replaces its earlier record), newest first. */
export function mergeMoments(current: readonly Moment[], incoming: readonly Moment[]): Moment[] {
  if (incoming.length === 0) return current as Moment[];
  const byId = new Map(current.map((m) => [m.moment_id, m] as const));
  for (const moment of incoming) {
    const existing = byId.get(moment.moment_id);
    if (!existing || ms(moment.detected_at) >= ms(existing.detected_at) || ms(moment.end) >= ms(existing.end)) {
      byId.set(moment.moment_id, moment);
    }
  }
  return [...byId.values()].sort(
    (a, b) => ms(b.start) - ms(a.start) || (a.moment_id < b.moment_id ? 1 : a.moment_id > b.moment_id ? -1 : 0),
  );
}

/** The span to zoom the charts to for a moment: the episode with context on both sides (at least 4 min). */
export function zoomSpan(moment: Moment): { from: number; to: number } {
  const start = ms(moment.start);
  const end = Math.max(ms(moment.end), ms(moment.peak_at));
  const pad = Math.max(2 * 60_000, (end - start) / 2);
  return { from: start - pad, to: end + pad };
}
