// One stream's live state: REST history for the chosen range, the WebSocket (or REST polling) for what
// happens next, and a REST backfill of the gap whenever updates resume after an interruption.
import { useCallback, useEffect, useLayoutEffect, useReducer, useRef } from 'react';
import { api as defaultApi, ApiError, liveUrl, type Api } from '../api/client';
import type { LiveMessage } from '../api/types';
import { LiveConnection, type LiveConnectionOptions } from '../lib/live';
import { backfillFrom, RANGES, STEP_MS, type RangeKey, type Series } from '../lib/series';
import { initialState, streamReducer, type StreamState, type Zoom } from '../lib/streamState';

export interface UseStreamOptions {
  api?: Api;
  connection?: Partial<LiveConnectionOptions>;
}

declare global {
  interface Window {
    /** Read-only introspection for the browser tests (no effect on the page). */
    __telemetra?: { streamId: string; state: () => StreamState };
  }
}

async function loadSeries(api: Api, streamId: string, series: Series, from: number, signal: AbortSignal) {
  const windows = await api.metrics(streamId, { from }, series.resolution, signal);
  let tiles: typeof windows = [];
  if (series.resolution === '5m') {
    // The newest bucket is still filling: its minute tiles let live pushes update it.
    const lastBucket = Math.floor(Date.now() / STEP_MS['5m']) * STEP_MS['5m'] - STEP_MS['5m'];
    tiles = await api.metrics(streamId, { from: Math.max(from, lastBucket) }, '1m', signal);
  }
  return { windows, tiles };
}

export function useStream(streamId: string, range: RangeKey, options: UseStreamOptions = {}) {
  const api = options.api ?? defaultApi;
  const [state, dispatch] = useReducer(streamReducer, range, initialState);
  const stateRef = useRef(state);
  useLayoutEffect(() => {
    stateRef.current = state;
  }, [state]);
  const connectionOptions = useRef(options.connection);

  useEffect(() => {
    dispatch({ type: 'range', range });
  }, [range]);

  // History for the range (again whenever the range changes); retried while it fails (e.g. a stream that
  // has not reported yet answers 404 until its first events arrive).
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    const load = () => {
      const from = Date.now() - RANGES[range].ms;
      const series = { ...stateRef.current.series, resolution: RANGES[range].resolution };
      Promise.all([
        loadSeries(api, streamId, series, from, controller.signal),
        api.moments(streamId, { from }, 200, controller.signal),
      ]).then(
        ([{ windows, tiles }, moments]) => dispatch({ type: 'history', range, windows, tiles, moments }),
        (error: unknown) => {
          if (controller.signal.aborted) return;
          failures++;
          const notFound = error instanceof ApiError && error.status === 404;
          if (!notFound || failures > 1) {
            dispatch({ type: 'error', error: error instanceof Error ? error.message : String(error), notFound });
          }
          timer = setTimeout(load, Math.min(2_000 * failures, 15_000));
        },
      );
    };
    load();
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [api, streamId, range]);

  // The live connection (one per stream, independent of the range).
  useEffect(() => {
    let disposed = false;
    const backfill = async () => {
      const current = stateRef.current;
      const fallback = Date.now() - RANGES[current.range].ms;
      const from = backfillFrom(current.series, fallback);
      const controller = new AbortController();
      try {
        const [{ windows, tiles }, moments] = await Promise.all([
          loadSeries(api, streamId, current.series, from, controller.signal),
          api.moments(streamId, { from }, 200, controller.signal),
        ]);
        if (!disposed) dispatch({ type: 'history', range: current.range, windows, tiles, moments });
      } catch {
        /* the next resume or poll tries again */
      }
    };
    const poll = async () => {
      const detail = await api.stream(streamId);
      if (!disposed) dispatch({ type: 'detail', detail, at: Date.now() });
    };
    const onMessage = (message: LiveMessage) => {
      const at = 'published_at' in message ? message.published_at * 1000 : Date.now();
      switch (message.type) {
        case 'snapshot':
          dispatch({ type: 'detail', detail: message.data, at });
          break;
        case 'window':
          dispatch({ type: 'window', window: message.data, at });
          break;
        case 'live':
          dispatch({ type: 'live', window: message.data, at });
          break;
        case 'moments':
          dispatch({ type: 'moments', moments: message.data, at });
          break;
        default:
          break;
      }
    };
    const connection = new LiveConnection({
      url: liveUrl(streamId),
      onMessage,
      onStatus: (status, detail) => dispatch({ type: 'status', status, detail }),
      onResume: () => void backfill(),
      poll,
      ...connectionOptions.current,
    });
    // The snapshot arrives on the socket; until then (or without sockets) REST gives the current state.
    poll().catch((error: unknown) => {
      if (error instanceof ApiError && error.status === 404) {
        dispatch({ type: 'error', error: 'unknown stream', notFound: true });
      }
    });
    connection.start();
    const online = () => connection.retryNow();
    const offline = () => connection.markOffline();
    window.addEventListener('online', online);
    window.addEventListener('offline', offline);
    window.__telemetra = { streamId, state: () => stateRef.current };
    return () => {
      disposed = true;
      connection.stop();
      window.removeEventListener('online', online);
      window.removeEventListener('offline', offline);
      if (window.__telemetra?.streamId === streamId) delete window.__telemetra;
    };
  }, [api, streamId]);

  // Zoomed spans are loaded at full (10 s) resolution.
  useEffect(() => {
    const zoom = state.zoom;
    if (!zoom) return;
    const controller = new AbortController();
    api.metrics(streamId, { from: zoom.from - 60_000, to: zoom.to }, '10s', controller.signal).then(
      (windows) => dispatch({ type: 'zoomWindows', zoom, windows }),
      () => {
        if (!controller.signal.aborted) dispatch({ type: 'zoomWindows', zoom, windows: [] });
      },
    );
    return () => controller.abort();
  }, [api, streamId, state.zoom]);

  const setZoom = useCallback((zoom: Zoom | null) => dispatch({ type: 'zoom', zoom }), []);
  return { state, setZoom };
}
