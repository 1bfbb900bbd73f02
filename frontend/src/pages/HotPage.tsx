// Hot right now: every live stream ranked by hype (chat against its own normal, recent moments), as the server
// ranks and pages them, read again every few seconds; filtered by category and by how many recent minutes count
// (URL `category=`, `minutes=`).
import { useCallback, useEffect, useRef, useState } from 'react';
import { api as defaultApi, type Api } from '../api/client';
import type { HotList, HotStream } from '../api/types';
import { ConnectionIndicator, EmptyState, ErrorState, focusRing, LoadingState, SelectField } from '../components/ui';
import { formatCount, formatRate } from '../lib/format';
import type { ConnectionStatus } from '../lib/live';
import { Link, navigate, RouteHeading, useLocation } from '../router';

export const HOT_PAGE_SIZE = 25;
export const HOT_REFRESH_MS = 5_000;
const MINUTES = [5, 10, 30, 60] as const;

interface HotData {
  list: HotList | null;
  items: HotStream[];
  error: string | null;
  status: ConnectionStatus;
  lastUpdate: number | null;
}

function setParam(name: string, value: string, fallback: string) {
  const params = new URLSearchParams(window.location.search);
  if (value && value !== fallback) params.set(name, value);
  else params.delete(name);
  const text = params.toString();
  navigate(`/hot${text ? `?${text}` : ''}`, { replace: true });
}

function useHot(api: Api, minutes: number, category: string) {
  const [data, setData] = useState<HotData>({ list: null, items: [], error: null, status: 'connecting', lastUpdate: null });
  const loaded = useRef(HOT_PAGE_SIZE);
  const failures = useRef(0);
  const read = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const list = await api.hot({ minutes, limit: loaded.current, ...(category ? { category } : {}) }, signal);
        failures.current = 0;
        setData({ list, items: list.items, error: null, status: 'live', lastUpdate: Date.now() });
      } catch (error) {
        if (signal?.aborted) return;
        failures.current += 1;
        const status = failures.current >= 3 ? 'offline' : 'reconnecting';
        setData((d) => ({ ...d, error: (error as Error).message, status: d.list ? status : 'connecting' }));
      }
    },
    [api, minutes, category],
  );
  useEffect(() => {
    loaded.current = HOT_PAGE_SIZE;
    const controller = new AbortController();
    void read(controller.signal);
    const timer = setInterval(() => void read(controller.signal), HOT_REFRESH_MS);
    return () => {
      controller.abort();
      clearInterval(timer);
    };
  }, [read]);
  const loadMore = useCallback(async () => {
    const cursor = data.list?.next_cursor;
    if (!cursor) return;
    const more = await api.hot({ minutes, limit: HOT_PAGE_SIZE, cursor, ...(category ? { category } : {}) });
    loaded.current += HOT_PAGE_SIZE;
    setData((d) => {
      const seen = new Set(d.items.map((s) => s.stream_id));
      return { ...d, list: more, items: [...d.items, ...more.items.filter((s) => !seen.has(s.stream_id))] };
    });
  }, [api, minutes, category, data.list]);
  return { data, retry: () => void read(), loadMore };
}

function ratioText(stream: HotStream): string {
  if (stream.chat_ratio == null) return 'no baseline yet';
  return `${stream.chat_ratio.toFixed(1)}× normal`;
}

export function HotPage({ api = defaultApi }: { api?: Api }) {
  const { search } = useLocation();
  const minutesParam = Number(search.get('minutes'));
  const minutes = (MINUTES as readonly number[]).includes(minutesParam) ? minutesParam : 10;
  const category = search.get('category') ?? '';
  const { data, retry, loadMore } = useHot(api, minutes, category);
  const categories = data.list?.categories ?? [];

  return (
    <>
      <div className="mb-6 flex flex-wrap items-end justify-between gap-4">
        <div>
          <RouteHeading className="text-2xl font-bold text-slate-50 sm:text-3xl">Hot right now</RouteHeading>
          <p className="mt-1 text-slate-300">
            Live streams by hype: chat against their own normal, and their moments in the last {minutes} minutes.
          </p>
        </div>
        <ConnectionIndicator status={data.status} lastUpdate={data.lastUpdate} />
      </div>

      <form aria-label="Filter hot streams" className="mb-6 flex flex-col gap-3 sm:flex-row sm:items-end" onSubmit={(e) => e.preventDefault()}>
        <SelectField
          label="Category"
          value={category}
          onChange={(value) => setParam('category', value, '')}
          options={[
            ['', 'All categories'],
            ...[...new Set([...categories, ...(category ? [category] : [])])].map((name) => [name, name] as const),
          ]}
          className="sm:w-56"
        />
        <SelectField
          label="Moments in the last"
          value={String(minutes)}
          onChange={(value) => setParam('minutes', value, '10')}
          options={MINUTES.map((m) => [String(m), `${m} minutes`] as const)}
          className="sm:w-40"
        />
      </form>

      {data.list === null ? (
        data.error ? (
          <ErrorState title="Could not load the hot streams" detail={data.error} onRetry={retry} />
        ) : (
          <LoadingState label="Loading hot streams…" />
        )
      ) : data.items.length === 0 ? (
        <EmptyState title={category ? `No live stream in “${category}”` : 'No live stream right now'}>
          Streams show up here while they are live.
        </EmptyState>
      ) : (
        <>
          <ol className="space-y-2" aria-label="Live streams, hottest first" data-testid="hot-list">
            {data.items.map((stream, index) => (
              <li
                key={stream.stream_id}
                data-testid="hot-stream"
                data-stream-id={stream.stream_id}
                className="flex flex-wrap items-center gap-x-4 gap-y-1 rounded-lg border border-slate-800 bg-slate-900 px-4 py-3"
              >
                <span className="w-8 text-lg font-bold text-slate-400 tabular-nums" aria-hidden="true">
                  {index + 1}
                </span>
                <span className="min-w-0 flex-1">
                  <Link to={`/streams/${stream.stream_id}`} className={`rounded font-semibold text-sky-300 underline ${focusRing}`}>
                    {stream.stream_id}
                  </Link>
                  <span className="block truncate text-sm text-slate-300">
                    {[stream.category, stream.title].filter(Boolean).join(' · ') || 'No category'}
                  </span>
                </span>
                <dl className="grid grid-cols-2 gap-x-6 gap-y-1 text-sm sm:grid-cols-4">
                  <div>
                    <dt className="text-xs text-slate-400">Chat</dt>
                    <dd className="text-slate-100 tabular-nums">
                      {formatRate(stream.chat_rate)} msg/s, {ratioText(stream)}
                    </dd>
                  </div>
                  <div>
                    <dt className="text-xs text-slate-400">Moments</dt>
                    <dd className="text-slate-100 tabular-nums" data-testid="hot-moments">
                      {stream.moments}
                      {stream.best_rank != null ? ` (best rank ${stream.best_rank.toFixed(0)})` : ''}
                    </dd>
                  </div>
                  <div>
                    <dt className="text-xs text-slate-400">Viewers</dt>
                    <dd className="text-slate-100 tabular-nums">{formatCount(stream.viewers)}</dd>
                  </div>
                  <div>
                    <dt className="text-xs text-slate-400">Hype</dt>
                    <dd className="font-semibold text-amber-300 tabular-nums" data-testid="hot-hype">
                      {stream.hype.toFixed(1)}
                    </dd>
                  </div>
                </dl>
              </li>
            ))}
          </ol>
          {data.list.next_cursor ? (
            <div className="mt-4 text-center">
              <button
                type="button"
                onClick={() => void loadMore()}
                className={`rounded-lg border border-slate-700 bg-slate-900 px-4 py-2 text-slate-100 hover:border-slate-500 ${focusRing}`}
              >
                Load more
              </button>
            </div>
          ) : null}
        </>
      )}
    </>
  );
}
