// Names for the generated OpenAPI types, and the WebSocket messages (not part of the OpenAPI document;
// documented in services/src/telemetra/services/api/routes/live.py).
import type { components, operations } from './schema';

type Schemas = components['schemas'];
export type WindowMetrics = Schemas['WindowOut'];
export type Moment = Schemas['MomentOut'];
export type MomentKind = Moment['kind'];
export type StreamSummary = Schemas['StreamSummary'];
export type StreamDetail = Schemas['StreamDetail'];
export type StreamList = Schemas['StreamList'];
export type StreamListQuery = NonNullable<operations['list_streams']['parameters']['query']>;
export type StreamSort = NonNullable<StreamListQuery['sort']>;
export type MetricsPage = Schemas['MetricsPage'];
export type MomentsPage = Schemas['MomentsPage'];
export type TopEmote = Schemas['TopEmote'];
export type HotList = Schemas['HotList'];
export type HotStream = Schemas['HotStream'];
export type HotQuery = NonNullable<operations['hot_streams']['parameters']['query']>;
export type Resolution = MetricsPage['resolution'];

interface Envelope<T extends string, D> {
  type: T;
  stream_id: string;
  data: D;
  published_at: number;
}

export type SnapshotMessage = Envelope<'snapshot', StreamDetail>;
/** The newest closed window. */
export type WindowMessage = Envelope<'window', WindowMetrics> & { source?: string };
/** The provisional view of the open window. */
export type LiveWindowMessage = Envelope<'live', WindowMetrics>;
/** The whole recent list, newest first; `changed` names the ids this update touched. */
export type MomentsMessage = Envelope<'moments', Moment[]> & { changed?: string[]; source?: string };
export type StatusMessage = Envelope<'status', { cache: 'up' | 'down'; reason: string | null }>;
export interface HeartbeatMessage {
  type: 'heartbeat';
  stream_id: string;
  ts: number;
}

export type LiveMessage =
  | SnapshotMessage
  | WindowMessage
  | LiveWindowMessage
  | MomentsMessage
  | StatusMessage
  | HeartbeatMessage;

const KNOWN = new Set(['snapshot', 'window', 'live', 'moments', 'status', 'heartbeat']);

/** Parse one WebSocket text frame; null for anything that is not a message this client understands. */
export function parseLiveMessage(text: string): LiveMessage | null {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body !== 'object' || body === null) return null;
    const type = (body as { type?: unknown }).type;
    if (typeof type !== 'string' || !KNOWN.has(type)) return null;
    if (type !== 'heartbeat' && !('data' in body)) return null;
    return body as LiveMessage;
  } catch {
    return null;
  }
}
