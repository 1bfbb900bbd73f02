// A fake backend for component tests: routes the typed client's requests to canned JSON.
import { vi } from 'vitest';
import { createApi } from '../api/client';
import type { StreamSummary } from '../api/types';

export type Handler = (url: URL) => unknown;

export function fakeApi(routes: Record<string, Handler>) {
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    for (const [pattern, handler] of Object.entries(routes)) {
      if (new RegExp(`^${pattern}$`).test(url.pathname)) {
        const body = handler(url);
        if (body instanceof Response) return body;
        return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
      }
    }
    return new Response(JSON.stringify({ detail: 'unknown stream', request_id: 'x' }), {
      status: 404,
      headers: { 'Content-Type': 'application/json' },
    });
  });
  return { api: createApi('http://api.test', fetch as unknown as typeof globalThis.fetch), fetch };
}

/** `GET /api/v1/streams` as the server answers it, over `streams()` (read at each request, so a test can change
 *  them between refreshes): search (`q`), the server's orders, and pages whose cursor is the next index. */
export function fakeStreamList(streams: () => StreamSummary[]): Handler {
  return (url) => {
    const q = (url.searchParams.get('q') ?? '').toLowerCase();
    const sort = url.searchParams.get('sort') ?? 'stream_id';
    const limit = Number(url.searchParams.get('limit') ?? 100);
    const cursor = url.searchParams.get('cursor');
    const key = (s: StreamSummary): number => {
      const value = { '-viewers': s.viewers, '-chat_rate': s.chat_rate, '-last_activity': Date.parse(s.last_activity ?? '') }[sort];
      return sort === 'stream_id' ? 0 : -(value ?? -1);
    };
    const matching = streams()
      .filter((s) => [s.stream_id, s.title ?? '', s.category ?? ''].some((text) => text.toLowerCase().includes(q)))
      .sort((a, b) => key(a) - key(b) || a.stream_id.localeCompare(b.stream_id));
    const start = cursor ? Number(cursor) : 0;
    const counted = cursor === null;
    return {
      items: matching.slice(start, start + limit),
      degraded: [],
      next_cursor: start + limit < matching.length ? String(start + limit) : null,
      total: counted ? matching.length : null,
      live_total: counted ? matching.filter((s) => s.live).length : null,
    };
  };
}
