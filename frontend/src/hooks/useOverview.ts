// The overview's data: pages of the stream list as the server searches (`q`) and sorts them, the first one
// loaded at once and more on demand ("Load more", with the server's cursor); every few seconds the streams
// loaded so far are read again in one request (so their numbers and order stay live); and each loaded stream's
// last 15 minutes of windows (for the sparkline, sentiment and hype), refreshed less often.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api as defaultApi, type Api } from '../api/client';
import type { StreamList, StreamSort, StreamSummary, WindowMetrics } from '../api/types';
import type { ConnectionStatus } from '../lib/live';
import { mergeWindows, trimBefore } from '../lib/series';

export const PAGE_SIZE = 24; // fills rows of 1, 2, 3 and 4 cards
const MAX_PAGE = 1000; // the API's largest page: how many loaded streams a refresh can read again at once

export interface OverviewQuery {
  q: string;
  sort: StreamSort;
}

export interface OverviewData {
  /** The loaded streams, in the server's order; null until the first answer. */
  streams: StreamSummary[] | null;
  /** The query `streams` answer (a new query keeps showing the previous answer until its own arrives). */
  query: OverviewQuery | null;
  nextCursor: string | null;
  total: number | null;
  liveTotal: number | null;
  loadingMore: boolean;
  moreError: string | null;
  windows: Record<string, WindowMetrics[]>;
  status: ConnectionStatus;
  error: string | null;
  lastUpdate: number | null;
}

const SPAN_MS = 15 * 60_000;

function appended(current: StreamSummary[], more: StreamSummary[]): StreamSummary[] {
  const seen = new Set(current.map((s) => s.stream_id)); // a stream that moved up since is not listed twice
  return [...current, ...more.filter((s) => !seen.has(s.stream_id))];
}

interface Session {
  query: OverviewQuery;
  signal: AbortSignal;
  stopped: () => boolean;
  refreshWindows: (streams: StreamSummary[]) => Promise<void>;
}

export function useOverview({
  api = defaultApi,
  q = '',
  sort = '-viewers',
  pageSize = PAGE_SIZE,
  listMs = 5_000,
  metricsMs = 15_000,
}: { api?: Api; q?: string; sort?: StreamSort; pageSize?: number; listMs?: number; metricsMs?: number } = {}) {
  const [data, setData] = useState<OverviewData>({
    streams: null,
    query: null,
    nextCursor: null,
    total: null,
    liveTotal: null,
    loadingMore: false,
    moreError: null,
    windows: {},
    status: 'connecting',
    error: null,
    lastUpdate: null,
  });
  const [attempt, setAttempt] = useState(0);
  const fetchedAt = useRef<Record<string, number>>({});
  const wanted = useRef(pageSize); // how many streams are loaded: what a refresh reads again
  const generation = useRef(0); // bumped by "Load more": a refresh started before it is out of date
  const session = useRef<Session | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    const controller = new AbortController();
    const query: OverviewQuery = { q, sort };
    wanted.current = pageSize;

    const refreshWindows = async (streams: StreamSummary[]) => {
      const now = Date.now();
      await Promise.all(
        streams.map(async ({ stream_id }) => {
          const last = fetchedAt.current[stream_id] ?? 0;
          if (now - last < metricsMs) return;
          fetchedAt.current[stream_id] = now;
          try {
            const items = await api.metrics(stream_id, { from: now - SPAN_MS }, '10s', controller.signal, 1);
            if (stopped) return;
            setData((current) => ({
              ...current,
              windows: {
                ...current.windows,
                [stream_id]: trimBefore(mergeWindows(current.windows[stream_id] ?? [], items), now - SPAN_MS),
              },
            }));
          } catch {
            fetchedAt.current[stream_id] = last; // try again on the next tick
          }
        }),
      );
    };
    session.current = { query, signal: controller.signal, stopped: () => stopped, refreshWindows };

    const apply = (list: StreamList) =>
      setData((current) => ({
        ...current,
        streams: list.items,
        query,
        nextCursor: list.next_cursor,
        total: list.total,
        liveTotal: list.live_total,
        moreError: null,
        status: 'live',
        error: null,
        lastUpdate: Date.now(),
      }));

    const tick = async () => {
      const started = generation.current;
      try {
        const limit = Math.min(Math.max(wanted.current, pageSize), MAX_PAGE);
        const list = await api.streams({ ...(q ? { q } : {}), sort, limit }, controller.signal);
        if (stopped) return;
        failures = 0;
        if (started === generation.current) {
          apply(list);
          void refreshWindows(list.items);
        }
      } catch (error) {
        if (stopped) return;
        failures++;
        const message = error instanceof Error ? error.message : String(error);
        setData((current) => ({
          ...current,
          status: failures >= 3 ? 'offline' : current.streams ? 'reconnecting' : 'connecting',
          error: current.streams ? null : failures >= 2 ? message : null,
        }));
      }
      if (!stopped) timer = setTimeout(() => void tick(), failures ? Math.min(listMs * 2 ** (failures - 1), 30_000) : listMs);
    };
    void tick();
    return () => {
      stopped = true;
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [api, q, sort, pageSize, listMs, metricsMs, attempt]);

  const loadMore = useCallback(async () => {
    const current = session.current;
    const cursor = data.nextCursor;
    if (!current || !cursor || data.loadingMore || (data.query && !sameQuery(data.query, current.query))) return;
    setData((d) => ({ ...d, loadingMore: true, moreError: null }));
    const { q: text, sort: order } = current.query;
    try {
      const page = await api.streams({ ...(text ? { q: text } : {}), sort: order, limit: pageSize, cursor }, current.signal);
      if (current.stopped()) return setData((d) => ({ ...d, loadingMore: false })); // another query meanwhile
      generation.current++;
      wanted.current += page.items.length;
      setData((d) => ({ ...d, streams: appended(d.streams ?? [], page.items), nextCursor: page.next_cursor, loadingMore: false }));
      void current.refreshWindows(page.items);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      setData((d) => ({ ...d, loadingMore: false, moreError: current.stopped() ? null : message }));
    }
  }, [api, pageSize, data.nextCursor, data.loadingMore, data.query]);

  return { data, retry: () => setAttempt((n) => n + 1), loadMore };
}

function sameQuery(a: OverviewQuery, b: OverviewQuery): boolean {
  return a.q === b.q && a.sort === b.sort;
}
