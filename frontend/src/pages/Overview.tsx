import { useEffect, useId, useMemo, useState } from 'react';
import type { Api } from '../api/client';
import { StreamCard } from '../components/StreamCard';
import { ConnectionIndicator, EmptyState, ErrorState, focusRing, LoadingState } from '../components/ui';
import { useOverview } from '../hooks/useOverview';
import { hypeScore } from '../lib/series';
import { navigate, RouteHeading, useLocation } from '../router';

export type SortKey = 'viewers' | 'chat_rate' | 'hype';
const SORTS: Record<SortKey, string> = { viewers: 'Viewers', chat_rate: 'Chat rate', hype: 'Hype' };

function useNow(periodMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(timer);
  }, [periodMs]);
  return now;
}

export function Overview({ api }: { api?: Api }) {
  const { data, retry } = useOverview(api ? { api } : {});
  const { search } = useLocation();
  const query = search.get('q') ?? '';
  const sort = (search.get('sort') as SortKey | null) ?? 'viewers';
  const now = useNow(10_000);
  const searchId = useId();
  const sortId = useId();

  const setParam = (name: string, value: string, fallback: string) => {
    const params = new URLSearchParams(window.location.search);
    if (value && value !== fallback) params.set(name, value);
    else params.delete(name);
    const text = params.toString();
    navigate(`/${text ? `?${text}` : ''}`, { replace: true });
  };

  const cards = useMemo(() => {
    const needle = query.trim().toLowerCase();
    return (data.streams ?? [])
      .filter((s) =>
        !needle
          ? true
          : [s.stream_id, s.title ?? '', s.category ?? ''].some((text) => text.toLowerCase().includes(needle)),
      )
      .map((stream) => {
        const windows = data.windows[stream.stream_id] ?? [];
        return { stream, windows, hype: hypeScore(windows, stream.latest_moment, now) };
      })
      .sort((a, b) => {
        const value = (c: typeof a) =>
          sort === 'hype' ? c.hype : sort === 'chat_rate' ? (c.stream.chat_rate ?? -1) : (c.stream.viewers ?? -1);
        return value(b) - value(a) || a.stream.stream_id.localeCompare(b.stream.stream_id);
      });
  }, [data.streams, data.windows, query, sort, now]);

  const liveCount = (data.streams ?? []).filter((s) => s.live).length;

  return (
    <>
      <div className="mb-6 flex flex-wrap items-end justify-between gap-4">
        <div>
          <RouteHeading className="text-2xl font-bold text-slate-50 sm:text-3xl">
            Streams
          </RouteHeading>
          <p className="mt-1 text-slate-300">
            {data.streams ? `${data.streams.length} streams, ${liveCount} live` : 'Live analytics for every channel'}
          </p>
        </div>
        <ConnectionIndicator status={data.status} lastUpdate={data.lastUpdate} />
      </div>

      <form
        role="search"
        aria-label="Filter and sort streams"
        className="mb-6 flex flex-col gap-3 sm:flex-row sm:items-end"
        onSubmit={(event) => event.preventDefault()}
      >
        <div className="flex-1">
          <label htmlFor={searchId} className="mb-1 block text-sm font-medium text-slate-300">
            Search
          </label>
          <input
            id={searchId}
            type="search"
            value={query}
            onChange={(event) => setParam('q', event.target.value, '')}
            placeholder="Channel, title or category"
            className={`w-full rounded-lg border border-slate-700 bg-slate-900 px-3 py-2 text-slate-100 placeholder:text-slate-400 ${focusRing}`}
          />
        </div>
        <div>
          <label htmlFor={sortId} className="mb-1 block text-sm font-medium text-slate-300">
            Sort by
          </label>
          <select
            id={sortId}
            value={sort}
            onChange={(event) => setParam('sort', event.target.value, 'viewers')}
            className={`w-full rounded-lg border border-slate-700 bg-slate-900 px-3 py-2 text-slate-100 sm:w-44 ${focusRing}`}
          >
            {Object.entries(SORTS).map(([key, label]) => (
              <option key={key} value={key}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </form>

      {data.streams === null ? (
        data.error ? (
          <ErrorState title="Could not load the streams" detail={data.error} onRetry={retry} />
        ) : (
          <LoadingState label="Loading streams…" />
        )
      ) : data.streams.length === 0 ? (
        <EmptyState title="No streams yet">
          Streams appear here as soon as the pipeline reports them (run <code>make demo</code> for demo data).
        </EmptyState>
      ) : cards.length === 0 ? (
        <EmptyState title={`No stream matches “${query}”`}>Try another name or clear the search.</EmptyState>
      ) : (
        <ul className="grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4" aria-label="Streams">
          {cards.map(({ stream, windows, hype }) => (
            <StreamCard key={stream.stream_id} stream={stream} windows={windows} hype={hype} now={now} />
          ))}
        </ul>
      )}
    </>
  );
}
