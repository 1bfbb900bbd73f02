import { describe, expect, it } from 'vitest';
import { isoTime, liveUrl } from './client';
import { parseLiveMessage } from './types';

describe('live messages', () => {
  it('parses the message types the server sends and drops the rest', () => {
    expect(parseLiveMessage('{"type":"window","stream_id":"a","data":{},"published_at":1}')?.type).toBe('window');
    expect(parseLiveMessage('{"type":"heartbeat","stream_id":"a","ts":1}')?.type).toBe('heartbeat');
    expect(parseLiveMessage('{"type":"window","stream_id":"a"}')).toBeNull();
    expect(parseLiveMessage('{"type":"other","data":1}')).toBeNull();
    expect(parseLiveMessage('not json')).toBeNull();
    expect(parseLiveMessage('null')).toBeNull();
  });

  it('builds the WebSocket URL on the page origin', () => {
    expect(liveUrl('nebula', { protocol: 'http:', host: '127.0.0.1:8000' })).toBe('ws://127.0.0.1:8000/ws/live/nebula');
    expect(liveUrl('a-b', { protocol: 'https:', host: 'x.example' })).toBe('wss://x.example/ws/live/a-b');
  });

  it('sends times as RFC 3339 UTC', () => {
    expect(isoTime(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe('2026-01-02T03:04:05.000Z');
  });
});
