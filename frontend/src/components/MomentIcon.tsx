import type { MomentKind } from '../api/types';

export const MOMENT_LABEL: Record<MomentKind, string> = {
  chat_spike: 'Chat spike',
  viewer_surge: 'Viewer surge',
  viewer_drop: 'Viewer drop',
  sentiment_swing: 'Sentiment swing',
  revenue_spike: 'Revenue spike',
  raid: 'Raid',
};

export const MOMENT_COLOR: Record<MomentKind, string> = {
  chat_spike: '#c4b5fd',
  viewer_surge: '#7dd3fc',
  viewer_drop: '#fda4af',
  sentiment_swing: '#fcd34d',
  revenue_spike: '#6ee7b7',
  raid: '#f0abfc',
};

const PATHS: Record<MomentKind, string> = {
  // speech bubble with a spark
  chat_spike: 'M4 5h16v10H9l-5 4V5zm8 2-2 4h2l-1 3 3-4h-2l1-3z',
  // arrow up over a baseline
  viewer_surge: 'M12 4l6 7h-4v6h-4v-6H6l6-7zM5 19h14v2H5z',
  // arrow down over a baseline
  viewer_drop: 'M12 20l-6-7h4V7h4v6h4l-6 7zM5 3h14v2H5z',
  // wave
  sentiment_swing: 'M2 13c3-6 5-6 7 0s4 6 7 0 4-6 6-2v3c-2-3-3-2-4 1-3 8-8 8-11 0-1-3-2-3-5 1z',
  // coin with a dollar bar
  revenue_spike: 'M12 3a9 9 0 110 18 9 9 0 010-18zm-1 3v2c-2 .3-3 1.4-3 2.8 0 3.4 6 2 6 4 0 .7-.8 1.2-2 1.2s-2.2-.6-2.4-1.6H7.8c.2 1.8 1.4 3 3.2 3.3V20h2v-2.3c2-.3 3.2-1.5 3.2-3 0-3.6-6-2.2-6-4 0-.6.7-1 1.8-1s1.8.5 2 1.3h1.8c-.2-1.6-1.3-2.7-2.8-3V6z',
  // flag
  raid: 'M5 3h2v18H5zM8 4h11l-3 4 3 4H8z',
};

export function MomentIcon({ kind, className = 'size-5' }: { kind: MomentKind; className?: string }) {
  return (
    <svg viewBox="0 0 24 24" className={className} aria-hidden="true" focusable="false">
      <path d={PATHS[kind]} fill={MOMENT_COLOR[kind]} fillRule="evenodd" />
    </svg>
  );
}
