// A fake backend for component tests: routes the typed client's requests to canned JSON.
import { vi } from 'vitest';
import { createApi } from '../api/client';

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
