// The overview's data: the stream list polled every few seconds, and each stream's last 15 minutes of
// windows (for the sparkline, sentiment and hype) refreshed less often.
import { useEffect, useRef, useState } from 'react';
import { api as defaultApi, type Api } from '../api/client';
import type { StreamSummary, WindowMetrics } from '../api/types';
import type { ConnectionStatus } from '../lib/live';
import { mergeWindows, trimBefore } from '../lib/series';

export interface OverviewData {
  streams: StreamSummary[] | null;
  windows: Record<string, WindowMetrics[]>;
  status: ConnectionStatus;
  error: string | null;
  lastUpdate: number | null;
}

const SPAN_MS = 15 * 60_000;

export function useOverview({
  api = defaultApi,
  listMs = 5_000,
  metricsMs = 15_000,
}: { api?: Api; listMs?: number; metricsMs?: number } = {}) {
  const [data, setData] = useState<OverviewData>({
    streams: null,
    windows: {},
    status: 'connecting',
    error: null,
    lastUpdate: null,
  });
  const [attempt, setAttempt] = useState(0);
  const fetchedAt = useRef<Record<string, number>>({});

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    const controller = new AbortController();

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

    const tick = async () => {
      try {
        const list = await api.streams(controller.signal);
        if (stopped) return;
        failures = 0;
        setData((current) => ({ ...current, streams: list.items, status: 'live', error: null, lastUpdate: Date.now() }));
        void refreshWindows(list.items);
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
  }, [api, listMs, metricsMs, attempt]);

  return { data, retry: () => setAttempt((n) => n + 1) };
}
