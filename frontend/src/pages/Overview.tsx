import { useEffect, useId, useMemo, useState } from 'react';
import type { Api } from '../api/client';
import type { StreamSort, StreamSummary } from '../api/types';
import { StreamCard } from '../components/StreamCard';
import { ConnectionIndicator, EmptyState, ErrorState, focusRing, LoadingState, SelectField } from '../components/ui';
import { useOverview } from '../hooks/useOverview';
import { formatCount } from '../lib/format';
import { hypeScore } from '../lib/series';
import { navigate, RouteHeading, useLocation } from '../router';

export type SortKey = 'viewers' | 'chat_rate' | 'recent' | 'name';
/** The choices (URL `sort=`), each the server's order and its label. */
const SORTS: Record<SortKey, { order: StreamSort; label: string }> = {
  viewers: { order: '-viewers', label: 'Viewers' },
  chat_rate: { order: '-chat_rate', label: 'Chat rate' },
  recent: { order: '-last_activity', label: 'Recently active' },
  name: { order: 'stream_id', label: 'Name' },
};
const SEARCH_DELAY_MS = 300;
const SEARCH_MAX = 100; // the API's limit

function sortKey(value: string | null): SortKey {
  return value !== null && Object.hasOwn(SORTS, value) ? (value as SortKey) : 'viewers';
}

/** The server sorts by the newest closed window's numbers; the cards show the current ones. Among the loaded
 *  streams, order by what is shown (stable: ties keep the server's order). */
function shownOrder(streams: StreamSummary[], key: SortKey): StreamSummary[] {
  if (key !== 'viewers' && key !== 'chat_rate') return streams;
  return [...streams].sort((a, b) => (b[key] ?? -1) - (a[key] ?? -1));
}

function useNow(periodMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(timer);
  }, [periodMs]);
  return now;
}

function setParam(name: string, value: string, fallback: string) {
  const params = new URLSearchParams(window.location.search);
  if (value && value !== fallback) params.set(name, value);
  else params.delete(name);
  const text = params.toString();
  navigate(`/${text ? `?${text}` : ''}`, { replace: true });
}

/** The search box's text, sent (as URL `q=`, which the list follows) once typing pauses. */
function useSearchText(query: string): [string, (text: string) => void] {
  const [text, setText] = useState(query);
  useEffect(() => {
    const timer = setTimeout(() => setParam('q', text.trim(), ''), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [text]);
  return [text, setText];
}

function summaryLine(total: number | null, live: number | null, searching: boolean): string {
  if (total === null) return 'Live analytics for every channel';
  const streams = `${formatCount(total)} ${total === 1 ? 'stream' : 'streams'}`;
  return `${streams}${searching ? ' match' + (total === 1 ? 'es' : '') : ''}, ${formatCount(live)} live`;
}

export function Overview({ api }: { api?: Api }) {
  const { search } = useLocation();
  const query = search.get('q') ?? '';
  const sort = sortKey(search.get('sort'));
  const { data, retry, loadMore } = useOverview({ ...(api ? { api } : {}), q: query, sort: SORTS[sort].order });
  const [text, setText] = useSearchText(query);
  const now = useNow(10_000);
  const searchId = useId();

  const cards = useMemo(
    () =>
      shownOrder(data.streams ?? [], sort).map((stream) => {
        const windows = data.windows[stream.stream_id] ?? [];
        return { stream, windows, hype: hypeScore(windows, stream.latest_moment, now) };
      }),
    [data.streams, data.windows, sort, now],
  );
  const searched = data.query?.q ?? '';

  return (
    <>
      <div className="mb-6 flex flex-wrap items-end justify-between gap-4">
        <div>
          <RouteHeading className="text-2xl font-bold text-slate-50 sm:text-3xl">
            Streams
          </RouteHeading>
          <p className="mt-1 text-slate-300" data-testid="stream-count">
            {summaryLine(data.total, data.liveTotal, searched !== '')}
          </p>
        </div>
        <ConnectionIndicator status={data.status} lastUpdate={data.lastUpdate} />
      </div>

      <form
        role="search"
        aria-label="Filter and sort streams"
        className="mb-6 flex flex-col gap-3 sm:flex-row sm:items-end"
        onSubmit={(event) => {
          event.preventDefault();
          setParam('q', text.trim(), ''); // Enter searches at once
        }}
      >
        <div className="flex-1">
          <label htmlFor={searchId} className="mb-1 block text-sm font-medium text-slate-300">
            Search
          </label>
          <input
            id={searchId}
            type="search"
            value={text}
            maxLength={SEARCH_MAX}
            onChange={(event) => setText(event.target.value)}
            placeholder="Channel, title or category"
            className={`w-full rounded-lg border border-slate-700 bg-slate-900 px-3 py-2 text-slate-100 placeholder:text-slate-400 ${focusRing}`}
          />
        </div>
        <SelectField
          label="Sort by"
          value={sort}
          onChange={(value) => setParam('sort', value, 'viewers')}
          options={Object.entries(SORTS).map(([key, { label }]) => [key, label] as const)}
        />
      </form>

      {data.streams === null ? (
        data.error ? (
          <ErrorState title="Could not load the streams" detail={data.error} onRetry={retry} />
        ) : (
          <LoadingState label="Loading streams…" />
        )
      ) : cards.length === 0 && searched ? (
        <EmptyState title={`No stream matches “${searched}”`}>Try another name or clear the search.</EmptyState>
      ) : cards.length === 0 ? (
        <EmptyState title="No streams yet">
          Streams appear here as soon as the pipeline reports them (run <code>make demo</code> for demo data).
        </EmptyState>
      ) : (
        <>
          <ul className="grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4" aria-label="Streams">
            {cards.map(({ stream, windows, hype }) => (
              <StreamCard key={stream.stream_id} stream={stream} windows={windows} hype={hype} now={now} />
            ))}
          </ul>
          <MorePages
            shown={cards.length}
            total={data.total}
            more={data.nextCursor !== null}
            loading={data.loadingMore}
            error={data.moreError}
            onMore={() => void loadMore()}
          />
        </>
      )}
    </>
  );
}

function MorePages({
  shown,
  total,
  more,
  loading,
  error,
  onMore,
}: {
  shown: number;
  total: number | null;
  more: boolean;
  loading: boolean;
  error: string | null;
  onMore: () => void;
}) {
  return (
    <div className="mt-6 flex flex-col items-center gap-2 text-sm text-slate-300">
      <p data-testid="shown-count" aria-live="polite">
        Showing {formatCount(shown)}
        {total !== null ? ` of ${formatCount(total)}` : ''}
      </p>
      {more ? (
        <button
          type="button"
          onClick={onMore}
          disabled={loading}
          className={`w-full rounded-lg border border-slate-700 bg-slate-900 px-4 py-2 font-medium text-slate-100 hover:border-slate-500 disabled:opacity-60 sm:w-auto ${focusRing}`}
        >
          {loading ? 'Loading…' : 'Load more'}
        </button>
      ) : null}
      {error ? (
        <p role="alert" className="text-rose-200">
          Could not load more streams: {error}
        </p>
      ) : null}
    </div>
  );
}
