import { useEffect, useMemo, useState } from 'react';
import type { Api } from '../api/client';
import type { Moment } from '../api/types';
import { EmoteCloud, TopEmotes } from '../components/EmoteCloud';
import { MomentsTimeline } from '../components/MomentsTimeline';
import { RevenuePanel } from '../components/RevenuePanel';
import { TimeChart, type ChartSeries } from '../components/TimeChart';
import { ConnectionIndicator, ErrorState, focusRing, LiveBadge, LoadingState, Panel, Stat } from '../components/ui';
import { useStream } from '../hooks/useStream';
import {
  formatCount,
  formatDateTime,
  formatRate,
  formatSentiment,
  formatSigned,
  formatTime,
  sentimentLabel,
} from '../lib/format';
import {
  emotesOver,
  findPeaks,
  RANGE_KEYS,
  RANGES,
  STEP_MS,
  toChartPoints,
  totals,
  viewerChange,
  zoomSpan,
  type RangeKey,
} from '../lib/series';
import { visibleWindows } from '../lib/streamState';
import { Link, navigate, RouteHeading, useLocation } from '../router';

const CHAT: ChartSeries[] = [
  { key: 'chatRate', name: 'Chat / s', color: '#a78bfa', kind: 'area', format: (v) => formatRate(v) },
];
const VIEWERS: ChartSeries[] = [
  { key: 'viewers', name: 'Viewers', color: '#38bdf8', kind: 'area', format: (v) => formatCount(Math.round(v)) },
];
const SENTIMENT: ChartSeries[] = [
  { key: 'positive', name: 'Positive %', color: '#34d399', kind: 'stack', format: (v) => `${Math.round(v)}%` },
  { key: 'neutral', name: 'Neutral %', color: '#94a3b8', kind: 'stack', format: (v) => `${Math.round(v)}%` },
  { key: 'negative', name: 'Negative %', color: '#fb7185', kind: 'stack', format: (v) => `${Math.round(v)}%` },
  { key: 'sentiment', name: 'Mean sentiment', color: '#fde68a', kind: 'line', axis: 'right', format: (v) => formatSentiment(v) },
];

function useNow(periodMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(timer);
  }, [periodMs]);
  return now;
}

export function StreamPage({ streamId, api }: { streamId: string; api?: Api }) {
  const { search } = useLocation();
  const rangeParam = search.get('range');
  const range: RangeKey = rangeParam && rangeParam in RANGES ? (rangeParam as RangeKey) : '15m';
  const { state, setZoom } = useStream(streamId, range, api ? { api } : {});
  const now = useNow(5_000);

  const setRange = (next: RangeKey) => {
    navigate(`/streams/${streamId}${next === '15m' ? '' : `?range=${next}`}`, { replace: true });
  };

  const windows = useMemo(() => visibleWindows(state, now), [state, now]);
  const zoom = state.zoom;
  const step = zoom ? STEP_MS['10s'] : STEP_MS[state.series.resolution];
  const points = useMemo(() => toChartPoints(windows, step), [windows, step]);
  const lastPoint = points[points.length - 1];
  const domain: [number, number] = zoom
    ? [zoom.from, zoom.to]
    : [now - RANGES[range].ms, Math.max(now, lastPoint?.t ?? now)];
  const chatPeaks = useMemo(() => findPeaks(points, 'chatRate'), [points]);
  const viewerPeaks = useMemo(() => findPeaks(points, 'viewers', { count: 1 }), [points]);
  const selected = zoom?.momentId ? state.moments.find((m) => m.moment_id === zoom.momentId) ?? null : null;
  const highlight = selected
    ? { from: Date.parse(selected.start), to: Math.max(Date.parse(selected.end), Date.parse(selected.start) + 10_000) }
    : null;

  const detail = state.detail;
  const current = state.live ?? detail?.live_window ?? detail?.latest_window ?? null;
  const viewers = detail?.viewers ?? current?.viewers ?? null;
  const chatRate = detail?.chat_rate ?? current?.chat_rate ?? null;
  const sentiment = current?.sentiment ?? null;
  const change = useMemo(() => viewerChange(state.recent.length ? state.recent : windows, viewers), [state.recent, windows, viewers]);
  const peakViewers = windows.reduce<number | null>((best, w) => (w.viewers_max !== null && (best === null || w.viewers_max > best) ? w.viewers_max : best), null);
  const sums = useMemo(
    () => totals(windows, zoom ? '10s' : state.series.resolution, domain[0] - 60_000, domain[1]),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [windows, zoom, state.series.resolution, domain[0], domain[1]],
  );
  const emotes = useMemo(() => {
    if (zoom) return emotesOver(windows);
    return current?.top_emotes ?? [];
  }, [zoom, windows, current]);

  const onSelectMoment = (moment: Moment) => {
    if (zoom?.momentId === moment.moment_id) setZoom(null);
    else setZoom({ ...zoomSpan(moment), momentId: moment.moment_id });
  };

  const spanText = zoom
    ? `${formatTime(zoom.from, true)} – ${formatTime(zoom.to, true)}`
    : `last ${RANGES[range].label}`;

  if (state.notFound && !detail) {
    return (
      <>
        <RouteHeading className="mb-4 text-2xl font-bold text-slate-50">
          {streamId}
        </RouteHeading>
        <ErrorState title="Unknown stream" detail={`No stream called “${streamId}” has reported any data.`} />
        <p className="mt-4">
          <Link to="/" className={`text-sky-300 underline ${focusRing}`}>
            Back to all streams
          </Link>
        </p>
      </>
    );
  }

  return (
    <>
      <nav aria-label="Breadcrumb" className="mb-2 text-sm">
        <Link to="/" className={`rounded text-sky-300 underline underline-offset-2 hover:text-sky-200 ${focusRing}`}>
          Streams
        </Link>
        <span aria-hidden="true" className="px-1.5 text-slate-500">
          /
        </span>
        <span className="text-slate-300">{streamId}</span>
      </nav>
      <div className="mb-5 flex flex-wrap items-start justify-between gap-4">
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-3">
            <RouteHeading className="truncate text-2xl font-bold text-slate-50 sm:text-3xl">
              {detail?.title ?? streamId}
            </RouteHeading>
            {detail ? <LiveBadge live={detail.live} /> : null}
          </div>
          <p className="mt-1 text-slate-300">
            {detail?.title ? `${streamId} · ` : ''}
            {detail?.category ?? 'No category'}
            {detail?.last_activity ? ` · last activity ${formatDateTime(Date.parse(detail.last_activity))}` : ''}
          </p>
        </div>
        <ConnectionIndicator status={state.status} detail={state.statusDetail} lastUpdate={state.lastUpdate} />
      </div>

      {state.error && !detail ? (
        <ErrorState title="Could not load this stream" detail={state.error} onRetry={() => window.location.reload()} />
      ) : null}

      <dl className="mb-5 grid grid-cols-2 gap-3 lg:grid-cols-4">
        <Stat
          label="Viewers"
          testId="stat-viewers"
          value={formatCount(viewers)}
          sub={
            change ? (
              <span
                data-testid="viewer-change"
                className={change.delta > 0 ? 'text-emerald-300' : change.delta < 0 ? 'text-rose-300' : 'text-slate-300'}
              >
                {formatSigned(change.delta)}
                {change.percent !== null ? ` (${change.percent > 0 ? '+' : ''}${change.percent}%)` : ''} since{' '}
                {formatTime(change.since)}
              </span>
            ) : (
              <span className="text-slate-400">change: not enough history</span>
            )
          }
        />
        <Stat label="Chat / s" testId="stat-chat-rate" value={formatRate(chatRate)} sub={`${formatCount(current?.unique_chatters)} chatters in the last minute`} />
        <Stat
          label="Sentiment"
          testId="stat-sentiment"
          value={formatSentiment(sentiment)}
          sub={
            current
              ? `${sentimentLabel(sentiment)} · ${formatCount(current.positive)} pos / ${formatCount(current.neutral)} neu / ${formatCount(current.negative)} neg`
              : undefined
          }
        />
        <Stat label={`Peak viewers (${zoom ? 'zoom' : range})`} testId="stat-peak-viewers" value={formatCount(peakViewers)} />
      </dl>

      <div className="mb-4 flex flex-wrap items-center justify-between gap-3">
        <div role="group" aria-label="Time range" className="inline-flex rounded-lg border border-slate-700 bg-slate-900 p-0.5">
          {RANGE_KEYS.map((key) => (
            <button
              key={key}
              type="button"
              aria-pressed={!zoom && key === range}
              onClick={() => {
                setZoom(null);
                setRange(key);
              }}
              className={`rounded-md px-3 py-1.5 text-sm font-medium ${
                !zoom && key === range ? 'bg-sky-300 text-slate-950' : 'text-slate-200 hover:bg-slate-800'
              } ${focusRing}`}
            >
              {key}
            </button>
          ))}
        </div>
        {zoom ? (
          <p className="flex flex-wrap items-center gap-2 text-sm text-amber-100" data-testid="zoom-banner" aria-live="polite">
            Zoomed to {selected ? `${selected.kind.replace('_', ' ')} ` : ''}
            {spanText}
            <button
              type="button"
              onClick={() => setZoom(null)}
              className={`rounded-md border border-amber-300/60 px-2 py-1 text-amber-100 hover:bg-amber-300/10 ${focusRing}`}
            >
              Reset zoom
            </button>
          </p>
        ) : (
          <p className="text-sm text-slate-400">
            {RANGES[range].resolution === '10s'
              ? `${detail?.window_seconds ?? 60} s windows every ${detail?.slide_seconds ?? 10} s`
              : `${RANGES[range].resolution} roll-up`}{' '}
            ·
            times in your time zone
          </p>
        )}
      </div>

      {state.loading && points.length === 0 ? <LoadingState label="Loading history…" /> : null}

      <div className="grid grid-cols-1 gap-4 xl:grid-cols-3">
        <div className="space-y-4 xl:col-span-2">
          <Panel title="Chat rate" id="chat">
            <TimeChart
              id="chat-rate"
              label="Chat messages per second"
              points={points}
              series={CHAT}
              domain={domain}
              peaks={chatPeaks}
              peakKey="chatRate"
              moments={state.moments}
              highlight={highlight}
              summary={`Now ${formatRate(chatRate)} messages per second; peak ${formatRate(chatPeaks[0]?.chatRate)} at ${chatPeaks[0] ? formatTime(chatPeaks[0].t) : '—'} (${spanText}).`}
            />
          </Panel>
          <Panel title="Viewers" id="viewers">
            <TimeChart
              id="viewers"
              label="Viewers"
              points={points}
              series={VIEWERS}
              domain={domain}
              peaks={viewerPeaks}
              peakKey="viewers"
              moments={state.moments}
              highlight={highlight}
              summary={`Now ${formatCount(viewers)} viewers; peak ${formatCount(peakViewers)} (${spanText}).`}
            />
          </Panel>
          <Panel title="Sentiment" id="sentiment">
            <TimeChart
              id="sentiment"
              label="Chat sentiment: positive, neutral and negative share, and the mean score"
              points={points}
              series={SENTIMENT}
              domain={domain}
              yDomain={[0, 100]}
              moments={state.moments}
              highlight={highlight}
              summary={`Mean sentiment now ${formatSentiment(sentiment)} (${sentimentLabel(sentiment)}).`}
            />
            <p className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-300">
              {SENTIMENT.map((s) => (
                <span key={String(s.key)} className="inline-flex items-center gap-1.5">
                  <span aria-hidden="true" className="inline-block h-2 w-3 rounded-sm" style={{ background: s.color }} />
                  {s.name}
                </span>
              ))}
            </p>
          </Panel>
        </div>
        <div className="space-y-4">
          <Panel title="Moments" id="moments">
            <MomentsTimeline moments={state.moments} selectedId={zoom?.momentId ?? null} onSelect={onSelectMoment} />
          </Panel>
          <Panel title={zoom ? 'Emotes (zoomed span)' : 'Emotes (last minute)'} id="emotes">
            <EmoteCloud emotes={emotes} height={220} />
            <h3 className="mt-3 mb-2 text-xs font-semibold tracking-wide text-slate-400 uppercase">Top emotes</h3>
            <TopEmotes emotes={emotes} />
          </Panel>
          <Panel title="Revenue" id="revenue">
            <RevenuePanel totals={sums} spanLabel={spanText} />
          </Panel>
        </div>
      </div>
    </>
  );
}
