// Typed REST client over the generated OpenAPI types (openapi-fetch): paths, parameters and bodies are
// checked by the compiler against the service's document.
import createClient from 'openapi-fetch';
import type { paths } from './schema';
import type {
  HotList,
  HotQuery,
  MetricsPage,
  Moment,
  Resolution,
  StreamDetail,
  StreamList,
  StreamListQuery,
  WindowMetrics,
} from './types';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export function createApi(baseUrl = '', fetchImpl?: typeof fetch) {
  // openapi-fetch binds `fetch` at creation: resolve it per call so tests can stub the global.
  const client = createClient<paths>({
    baseUrl,
    fetch: (request: Request) => (fetchImpl ?? globalThis.fetch)(request),
  });

  function fail(response: Response, error: unknown): never {
    const detail = (error as { detail?: unknown } | undefined)?.detail;
    const reason = typeof detail === 'string' ? detail : response.statusText || 'request failed';
    throw new ApiError(response.status, `${response.status} ${reason}`);
  }

  return {
    /** A page of the stream list: searched (`q`), sorted and paged by the server (`cursor`: the previous
     *  page's `next_cursor`). */
    async streams(query: StreamListQuery = {}, signal?: AbortSignal): Promise<StreamList> {
      const { data, error, response } = await client.GET('/api/v1/streams', { params: { query }, signal });
      if (!data) fail(response, error);
      return data;
    },

    /** Live streams by hype, greatest first (`cursor`: the previous page's `next_cursor`). */
    async hot(query: HotQuery = {}, signal?: AbortSignal): Promise<HotList> {
      const { data, error, response } = await client.GET('/api/v1/hot', { params: { query }, signal });
      if (!data) fail(response, error);
      return data;
    },

    async stream(streamId: string, signal?: AbortSignal): Promise<StreamDetail> {
      const { data, error, response } = await client.GET('/api/v1/streams/{stream_id}', {
        params: { path: { stream_id: streamId } },
        signal,
      });
      if (!data) fail(response, error);
      return data;
    },

    async metricsPage(
      streamId: string,
      query: { from?: string; to?: string; resolution?: Resolution; limit?: number; cursor?: string },
      signal?: AbortSignal,
    ): Promise<MetricsPage> {
      const { data, error, response } = await client.GET('/api/v1/streams/{stream_id}/metrics', {
        params: { path: { stream_id: streamId }, query },
        signal,
      });
      if (!data) fail(response, error);
      return data;
    },

    /** Every window in [from, to) at a resolution, following cursors (oldest first). */
    async metrics(
      streamId: string,
      range: { from: number; to?: number },
      resolution: Resolution,
      signal?: AbortSignal,
      maxPages = 10,
    ): Promise<WindowMetrics[]> {
      const items: WindowMetrics[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < maxPages; page++) {
        const result = await this.metricsPage(
          streamId,
          {
            from: isoTime(range.from),
            ...(range.to !== undefined ? { to: isoTime(range.to) } : {}),
            resolution,
            limit: 1000,
            ...(cursor ? { cursor } : {}),
          },
          signal,
        );
        items.push(...result.items);
        if (!result.next_cursor) break;
        cursor = result.next_cursor;
      }
      return items;
    },

    async moments(
      streamId: string,
      range: { from?: number; to?: number },
      limit = 100,
      signal?: AbortSignal,
    ): Promise<Moment[]> {
      const { data, error, response } = await client.GET('/api/v1/streams/{stream_id}/moments', {
        params: {
          path: { stream_id: streamId },
          query: {
            ...(range.from !== undefined ? { from: isoTime(range.from) } : {}),
            ...(range.to !== undefined ? { to: isoTime(range.to) } : {}),
            limit,
          },
        },
        signal,
      });
      if (!data) fail(response, error);
      return data.items;
    },
  };
}

export type Api = ReturnType<typeof createApi>;

/** Epoch milliseconds → RFC 3339 (UTC) as the API expects. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export const api = createApi();

/** The live WebSocket URL of a stream on the page's own origin (the Vite dev server proxies /ws). */
export function liveUrl(streamId: string, location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws/live/${encodeURIComponent(streamId)}`;
}
