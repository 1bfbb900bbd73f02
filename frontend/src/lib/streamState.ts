// The stream page's state and its reducer: REST history, WebSocket pushes, REST backfill and polling all
// go through here, and every merge is by window start (windows) or moment id (moments), so the order in
// which answers arrive cannot create duplicates or lose points.
import type { Moment, StreamDetail, WindowMetrics } from '../api/types';
import type { ConnectionStatus } from './live';
import {
  addHistory,
  addRawWindows,
  emptySeries,
  mergeMoments,
  mergeWindows,
  RANGES,
  startMs,
  type RangeKey,
  type Series,
} from './series';

export interface Zoom {
  from: number;
  to: number;
  momentId: string | null;
}

export interface StreamState {
  range: RangeKey;
  detail: StreamDetail | null;
  series: Series;
  /** The provisional view of the open window (newest live push). */
  live: WindowMetrics | null;
  /** Every closed 10 s window received live or by backfill (bounded): for zoomed views and the emote cloud. */
  recent: WindowMetrics[];
  moments: Moment[];
  status: ConnectionStatus;
  statusDetail: string | null;
  /** Epoch ms of the last update from the server (push, poll or snapshot). */
  lastUpdate: number | null;
  /** How many live pushes (window, live, moments) have been applied: the "updates" counter. */
  pushes: number;
  loading: boolean;
  error: string | null;
  notFound: boolean;
  zoom: Zoom | null;
  zoomWindows: WindowMetrics[];
  zoomLoading: boolean;
}

export type StreamAction =
  | { type: 'range'; range: RangeKey }
  | { type: 'history'; range: RangeKey; windows: WindowMetrics[]; tiles?: WindowMetrics[]; moments: Moment[] }
  | { type: 'detail'; detail: StreamDetail; at: number }
  | { type: 'window'; window: WindowMetrics; at: number }
  | { type: 'live'; window: WindowMetrics; at: number }
  | { type: 'moments'; moments: Moment[]; at: number }
  | { type: 'status'; status: ConnectionStatus; detail?: string | undefined }
  | { type: 'error'; error: string; notFound?: boolean }
  | { type: 'zoom'; zoom: Zoom | null }
  | { type: 'zoomWindows'; zoom: Zoom; windows: WindowMetrics[] };

const RECENT_LIMIT = 6 * 60 * 2; // two hours of 10 s windows

export function initialState(range: RangeKey): StreamState {
  return {
    range,
    detail: null,
    series: emptySeries(RANGES[range].resolution),
    live: null,
    recent: [],
    moments: [],
    status: 'connecting',
    statusDetail: null,
    lastUpdate: null,
    pushes: 0,
    loading: true,
    error: null,
    notFound: false,
    zoom: null,
    zoomWindows: [],
    zoomLoading: false,
  };
}

function withRaw(state: StreamState, windows: WindowMetrics[]): Pick<StreamState, 'series' | 'recent'> {
  const recent = mergeWindows(state.recent, windows);
  return {
    series: addRawWindows(state.series, windows),
    recent: recent.length > RECENT_LIMIT ? recent.slice(recent.length - RECENT_LIMIT) : recent,
  };
}

/** The newer of two provisional views (a late push for an older window must not move the live point back). */
function newerLive(current: WindowMetrics | null, incoming: WindowMetrics | null): WindowMetrics | null {
  if (!incoming) return current;
  if (!current) return incoming;
  return startMs(incoming) >= startMs(current) ? incoming : current;
}

export function streamReducer(state: StreamState, action: StreamAction): StreamState {
  switch (action.type) {
    case 'range': {
      if (action.range === state.range) return state;
      const fresh = emptySeries(RANGES[action.range].resolution);
      // Keep what is independent of the range; the 10 s windows already held seed the new series.
      return {
        ...state,
        range: action.range,
        series: addRawWindows(fresh, state.recent),
        loading: true,
        zoom: null,
        zoomWindows: [],
      };
    }
    case 'history': {
      if (action.range !== state.range) return state; // an answer for a range the user already left
      const series = addHistory(state.series, action.windows, action.tiles ?? []);
      const raw = series.resolution === '10s' ? action.windows : [];
      const recent = raw.length ? mergeWindows(state.recent, raw).slice(-RECENT_LIMIT) : state.recent;
      return {
        ...state,
        series,
        recent,
        moments: mergeMoments(state.moments, action.moments),
        loading: false,
        error: null,
      };
    }
    case 'detail': {
      const detail = action.detail;
      const closed = detail.latest_window ? [detail.latest_window] : [];
      const liveWindow = detail.live_window;
      return {
        ...state,
        detail,
        ...withRaw(state, liveWindow ? [...closed, liveWindow] : closed),
        live: detail.live ? newerLive(state.live, liveWindow) : null,
        moments: mergeMoments(state.moments, detail.recent_moments),
        lastUpdate: Math.max(state.lastUpdate ?? 0, action.at),
        error: null,
        notFound: false,
      };
    }
    case 'window':
      return {
        ...state,
        ...withRaw(state, [action.window]),
        detail: state.detail ? { ...state.detail, latest_window: action.window } : state.detail,
        lastUpdate: Math.max(state.lastUpdate ?? 0, action.at),
        pushes: state.pushes + 1,
      };
    case 'live': {
      const live = newerLive(state.live, action.window);
      return {
        ...state,
        ...withRaw(state, [action.window]),
        live,
        detail: state.detail
          ? {
              ...state.detail,
              live: true,
              live_window: live,
              viewers: live?.viewers ?? state.detail.viewers,
              chat_rate: live?.chat_rate ?? state.detail.chat_rate,
            }
          : state.detail,
        lastUpdate: Math.max(state.lastUpdate ?? 0, action.at),
        pushes: state.pushes + 1,
      };
    }
    case 'moments':
      return {
        ...state,
        moments: mergeMoments(state.moments, action.moments),
        lastUpdate: Math.max(state.lastUpdate ?? 0, action.at),
        pushes: state.pushes + 1,
      };
    case 'status':
      return { ...state, status: action.status, statusDetail: action.detail ?? null };
    case 'error':
      return { ...state, loading: false, error: action.error, notFound: action.notFound ?? false };
    case 'zoom':
      return { ...state, zoom: action.zoom, zoomWindows: [], zoomLoading: action.zoom !== null };
    case 'zoomWindows':
      if (!state.zoom || state.zoom.from !== action.zoom.from || state.zoom.to !== action.zoom.to) return state;
      return { ...state, zoomWindows: action.windows, zoomLoading: false };
  }
}

/** The windows the charts show: the range's series, or when zoomed the 10 s windows of the zoomed span. */
export function visibleWindows(state: StreamState, now: number): WindowMetrics[] {
  if (state.zoom) {
    const { from, to } = state.zoom;
    const merged = mergeWindows(state.zoomWindows, state.recent);
    return merged.filter((w) => Date.parse(w.window_end) > from && Date.parse(w.window_start) < to);
  }
  const from = now - RANGES[state.range].ms;
  return state.series.windows.filter((w) => Date.parse(w.window_end) > from);
}
