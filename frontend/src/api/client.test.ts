import { describe, expect, it } from 'vitest';
import { T0, win } from '../test/fixtures';
import { fakeApi } from '../test/fakeApi';
import { ApiError } from './client';

describe('typed API client', () => {
  it('follows metrics cursors and passes the query', async () => {
    const seen: URL[] = [];
    const { api } = fakeApi({
      '/api/v1/streams/demo/metrics': (url) => {
        seen.push(url);
        return url.searchParams.get('cursor')
          ? { stream_id: 'demo', resolution: '1m', items: [win(T0 + 60_000)], next_cursor: null }
          : { stream_id: 'demo', resolution: '1m', items: [win(T0)], next_cursor: 'abc' };
      },
    });
    const items = await api.metrics('demo', { from: T0 }, '1m');
    expect(items.map((w) => w.window_start)).toEqual([win(T0).window_start, win(T0 + 60_000).window_start]);
    expect(seen[0]!.searchParams.get('from')).toBe(new Date(T0).toISOString());
    expect(seen[0]!.searchParams.get('resolution')).toBe('1m');
    expect(seen[0]!.searchParams.get('limit')).toBe('1000');
    expect(seen[1]!.searchParams.get('cursor')).toBe('abc');
  });

  it('raises ApiError with the status and the detail', async () => {
    const { api } = fakeApi({});
    await expect(api.stream('nope')).rejects.toEqual(new ApiError(404, '404 unknown stream'));
  });
});
