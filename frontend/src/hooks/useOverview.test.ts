import { act, renderHook, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { StreamSummary } from '../api/types';
import { summary } from '../test/fixtures';
import { fakeApi, fakeStreamList } from '../test/fakeApi';
import { useOverview } from './useOverview';

function directory(count: number, viewers: (i: number) => number): StreamSummary[] {
  return Array.from({ length: count }, (_, i) => summary({ stream_id: `s${i}`, viewers: viewers(i) }));
}

const SLOW = { timeout: 5000 }; // a busy machine answers slower than the default second

describe('useOverview', () => {
  it('keeps every loaded page live: a refresh reads them all again, in the server’s current order', async () => {
    let streams = directory(5, (i) => 100 - i);
    const { api, fetch } = fakeApi({
      '/api/v1/streams': fakeStreamList(() => streams),
      '/api/v1/streams/[a-z0-9]+/metrics': () => ({ stream_id: 'x', resolution: '10s', items: [], next_cursor: null }),
    });
    const { result } = renderHook(() => useOverview({ api, pageSize: 2, listMs: 50, metricsMs: 60_000 }));
    await waitFor(() => expect(result.current.data.streams?.map((s) => s.stream_id)).toEqual(['s0', 's1']), SLOW);
    expect(result.current.data.nextCursor).toBe('2');

    await act(() => result.current.loadMore());
    expect(result.current.data.streams?.map((s) => s.stream_id)).toEqual(['s0', 's1', 's2', 's3']);

    streams = directory(5, (i) => (i === 4 ? 500 : 100 - i)); // s4 is the most watched now
    await waitFor(() => expect(result.current.data.streams?.map((s) => s.stream_id)).toEqual(['s4', 's0', 's1', 's2']), SLOW);
    expect(result.current.data.streams?.[0]?.viewers).toBe(500);
    expect(result.current.data.nextCursor).toBe('4');
    const refreshes = fetch.mock.calls
      .map(([request]) => new URL((request as Request).url).searchParams)
      .filter((params) => params.get('limit') === '4');
    expect(refreshes.length).toBeGreaterThan(0);
    expect(refreshes.every((params) => !params.has('cursor'))).toBe(true); // from the start, counted
    expect(result.current.data.total).toBe(5);
  });

  it('starts over from the first page when the search or the order changes', async () => {
    const streams = directory(5, (i) => 100 - i);
    const { api } = fakeApi({
      '/api/v1/streams': fakeStreamList(() => streams),
      '/api/v1/streams/[a-z0-9]+/metrics': () => ({ stream_id: 'x', resolution: '10s', items: [], next_cursor: null }),
    });
    const { result, rerender } = renderHook((props: { q: string }) => useOverview({ api, pageSize: 2, listMs: 60_000, ...props }), {
      initialProps: { q: '' },
    });
    await waitFor(() => expect(result.current.data.streams).toHaveLength(2), SLOW);
    await act(() => result.current.loadMore());
    expect(result.current.data.streams).toHaveLength(4);
    rerender({ q: 's3' });
    await waitFor(() => expect(result.current.data.query?.q).toBe('s3'), SLOW);
    expect(result.current.data.streams?.map((s) => s.stream_id)).toEqual(['s3']);
    expect(result.current.data.total).toBe(1);
    expect(result.current.data.nextCursor).toBeNull();
  });
});
