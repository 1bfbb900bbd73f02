import { describe, expect, it } from 'vitest';
import { detail, moment, T0, win, wins } from '../test/fixtures';
import { initialState, streamReducer, visibleWindows, type StreamAction, type StreamState } from './streamState';

const run = (state: StreamState, ...actions: StreamAction[]) => actions.reduce(streamReducer, state);
const starts = (state: StreamState) => state.series.windows.map((w) => Date.parse(w.window_start));

describe('stream state', () => {
  it('appends live points to the REST history and replaces provisional ones when they close', () => {
    const state = run(
      initialState('15m'),
      { type: 'history', range: '15m', windows: wins(T0, 6), moments: [] },
      { type: 'live', window: win(T0 + 70_000, { final: false, viewers: 1500 }), at: T0 + 131_000 },
      { type: 'window', window: win(T0 + 60_000), at: T0 + 132_000 },
      { type: 'live', window: win(T0 + 80_000, { final: false }), at: T0 + 141_000 },
      { type: 'window', window: win(T0 + 70_000, { final: true, viewers: 1600 }), at: T0 + 142_000 },
    );
    expect(starts(state)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => T0 + i * 10_000));
    expect(state.series.windows[7]).toMatchObject({ final: true, viewers: 1600 });
    expect(state.series.windows[8]!.final).toBe(false);
    expect(state.live?.window_start).toBe(new Date(T0 + 80_000).toISOString());
    expect(state.pushes).toBe(4);
    expect(state.lastUpdate).toBe(T0 + 142_000);
    expect(state.loading).toBe(false);
  });

  it('keeps live points that arrived before the history answer', () => {
    const state = run(
      initialState('15m'),
      { type: 'live', window: win(T0 + 60_000, { final: false }), at: T0 },
      { type: 'history', range: '15m', windows: wins(T0, 6), moments: [moment()] },
    );
    expect(starts(state)).toHaveLength(7);
    expect(state.moments).toHaveLength(1);
  });

  it('backfills the gap after a reconnect without duplicate points', () => {
    const before = run(
      initialState('15m'),
      { type: 'history', range: '15m', windows: wins(T0, 6), moments: [] },
      { type: 'live', window: win(T0 + 60_000, { final: false }), at: T0 },
    );
    // Disconnected for a minute: the backfill overlaps what we have (from the newest closed window on),
    // and the snapshot after reconnecting repeats the newest closed window.
    const after = run(
      before,
      { type: 'history', range: '15m', windows: wins(T0 + 50_000, 8), moments: [moment()] },
      { type: 'detail', detail: detail({ latest_window: win(T0 + 120_000), live_window: win(T0 + 130_000, { final: false }), recent_moments: [moment()] }), at: T0 + 200_000 },
    );
    const list = starts(after);
    expect(new Set(list).size).toBe(list.length);
    expect(list).toEqual(Array.from({ length: 14 }, (_, i) => T0 + i * 10_000));
    expect(after.series.windows.filter((w) => !w.final).map((w) => Date.parse(w.window_start))).toEqual([T0 + 130_000]);
    expect(after.moments).toHaveLength(1);
  });

  it('ignores history for a range the user already left', () => {
    const state = run(initialState('15m'), { type: 'range', range: '6h' }, { type: 'history', range: '15m', windows: wins(T0, 3), moments: [] });
    expect(state.series.resolution).toBe('1m');
    expect(state.series.windows).toHaveLength(0);
  });

  it('seeds a new range from the 10 s windows already held', () => {
    const state = run(
      initialState('15m'),
      { type: 'history', range: '15m', windows: wins(T0, 12), moments: [] },
      { type: 'range', range: '6h' },
    );
    expect(starts(state)).toEqual([T0, T0 + 60_000]);
    expect(state.loading).toBe(true);
  });

  it('shows the zoomed span at 10 s resolution', () => {
    const zoom = { from: T0 + 100_000, to: T0 + 200_000, momentId: 'm1' };
    const zoomed = run(
      initialState('24h'),
      { type: 'zoom', zoom },
      { type: 'zoomWindows', zoom, windows: wins(T0, 30) },
    );
    expect(zoomed.zoomLoading).toBe(false);
    const visible = visibleWindows(zoomed, T0 + 300_000);
    expect(visible.every((w) => Date.parse(w.window_end) > zoom.from && Date.parse(w.window_start) < zoom.to)).toBe(true);
    expect(visible.length).toBeGreaterThan(10);
    // An answer for another zoom is dropped.
    const stale = streamReducer(zoomed, { type: 'zoomWindows', zoom: { ...zoom, from: 0 }, windows: [] });
    expect(stale).toBe(zoomed);
  });

  it('takes the current numbers from the snapshot and live pushes', () => {
    const state = run(
      initialState('15m'),
      { type: 'detail', detail: detail({ viewers: 10, chat_rate: 2 }), at: T0 },
      { type: 'live', window: win(T0, { final: false, viewers: 12, chat_rate: 3 }), at: T0 + 1000 },
    );
    expect(state.detail).toMatchObject({ viewers: 12, chat_rate: 3, live: true });
    const older = streamReducer(state, { type: 'live', window: win(T0 - 10_000, { final: false, viewers: 1 }), at: T0 + 2000 });
    expect(older.live?.viewers).toBe(12);
  });

  it('records errors and statuses', () => {
    let state = streamReducer(initialState('15m'), { type: 'error', error: '404 unknown stream', notFound: true });
    expect(state).toMatchObject({ loading: false, notFound: true });
    state = streamReducer(state, { type: 'status', status: 'reconnecting', detail: 'x' });
    expect(state).toMatchObject({ status: 'reconnecting', statusDetail: 'x' });
  });
});
