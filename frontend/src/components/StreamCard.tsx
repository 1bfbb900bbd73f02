import type { StreamSummary, WindowMetrics } from '../api/types';
import { formatAgo, formatCount, formatRate, formatSentiment, sentimentLabel } from '../lib/format';
import { Link } from '../router';
import { MOMENT_LABEL, MomentIcon } from './MomentIcon';
import { Sparkline } from './Sparkline';
import { focusRing, LiveBadge } from './ui';

const SENTIMENT_CLASS = {
  positive: 'text-emerald-300',
  neutral: 'text-slate-200',
  negative: 'text-rose-300',
  'no chat': 'text-slate-400',
} as const;

export function StreamCard({
  stream,
  windows,
  hype,
  now,
}: {
  stream: StreamSummary;
  windows: readonly WindowMetrics[];
  hype: number;
  now: number;
}) {
  const sentiment = [...windows].reverse().find((w) => w.sentiment !== null)?.sentiment ?? null;
  const mood = sentimentLabel(sentiment);
  const moment = stream.latest_moment;
  const titleId = `card-${stream.stream_id}`;
  return (
    <li>
      <article
        aria-labelledby={titleId}
        data-testid="stream-card"
        data-stream-id={stream.stream_id}
        className="relative flex h-full flex-col gap-3 rounded-xl border border-slate-800 bg-slate-900/70 p-4 transition-colors focus-within:border-sky-400 hover:border-slate-600"
      >
        <header className="flex items-start justify-between gap-3">
          <div className="min-w-0">
            <h2 id={titleId} className="truncate text-lg font-semibold text-slate-50">
              <Link to={`/streams/${stream.stream_id}`} className={`rounded after:absolute after:inset-0 ${focusRing}`}>
                {stream.title ?? stream.stream_id}
              </Link>
            </h2>
            <p className="truncate text-sm text-slate-400">
              {stream.title ? `${stream.stream_id} · ` : ''}
              {stream.category ?? 'No category'}
            </p>
          </div>
          <LiveBadge live={stream.live} />
        </header>
        <dl className="grid grid-cols-3 gap-2 text-sm">
          <div>
            <dt className="text-slate-400">Viewers</dt>
            <dd className="text-lg font-semibold tabular-nums text-slate-50" data-testid="card-viewers">
              {formatCount(stream.viewers)}
            </dd>
          </div>
          <div>
            <dt className="text-slate-400">Chat / s</dt>
            <dd className="text-lg font-semibold tabular-nums text-slate-50" data-testid="card-chat-rate">
              {formatRate(stream.chat_rate)}
            </dd>
          </div>
          <div>
            <dt className="text-slate-400">Sentiment</dt>
            <dd className={`text-lg font-semibold tabular-nums ${SENTIMENT_CLASS[mood]}`}>
              {formatSentiment(sentiment)}
              <span className="sr-only"> ({mood})</span>
            </dd>
          </div>
        </dl>
        <div className="flex items-end justify-between gap-3">
          <div className="min-w-0 flex-1">
            <Sparkline values={windows.map((w) => w.chat_rate)} />
            <p className="text-xs text-slate-400">Chat rate, last 15 min</p>
          </div>
          <p className="shrink-0 text-right text-sm">
            <span className="block text-xs text-slate-400">Hype</span>
            <span className="font-semibold tabular-nums text-amber-200" data-testid="card-hype">
              {hype.toFixed(1)}×
            </span>
          </p>
        </div>
        <footer className="min-h-10 border-t border-slate-800 pt-2 text-sm">
          {moment ? (
            <p className="flex items-start gap-2">
              <MomentIcon kind={moment.kind} className="mt-0.5 size-4 shrink-0" />
              <span className="min-w-0">
                <span className="font-medium text-slate-100">{MOMENT_LABEL[moment.kind]}</span>{' '}
                <span className="text-slate-400">{formatAgo(Date.parse(moment.start), now)}</span>
                <span className="block truncate text-slate-300">{moment.description}</span>
              </span>
            </p>
          ) : (
            <p className="text-slate-400">No moments yet</p>
          )}
        </footer>
      </article>
    </li>
  );
}
