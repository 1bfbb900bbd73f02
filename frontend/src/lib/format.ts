// Display formatting. Times are shown in the viewer's time zone (the browser's), never UTC.
const numberFormat = new Intl.NumberFormat(undefined);
const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const rateFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const usdFormat = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' });
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const timeSecondsFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});

export function timeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export function formatTime(ms: number, seconds = false): string {
  return (seconds ? timeSecondsFormat : timeFormat).format(ms);
}

export function formatDateTime(ms: number): string {
  return dateTimeFormat.format(ms);
}

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : numberFormat.format(value);
}

export function formatCompact(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : compactFormat.format(value);
}

export function formatRate(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : rateFormat.format(value);
}

export function formatUsd(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : usdFormat.format(value);
}

export function formatSentiment(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const text = value.toFixed(2);
  return value > 0 ? `+${text}` : text;
}

export function sentimentLabel(value: number | null | undefined): 'positive' | 'neutral' | 'negative' | 'no chat' {
  if (value === null || value === undefined) return 'no chat';
  if (value >= 0.15) return 'positive';
  if (value <= -0.15) return 'negative';
  return 'neutral';
}

export function formatSigned(value: number): string {
  const text = numberFormat.format(Math.abs(value));
  return value > 0 ? `+${text}` : value < 0 ? `−${text}` : '±0';
}

/** "12 s ago", "3 min ago", "2 h ago". */
export function formatAgo(ms: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
}

/** Where a moment is in the broadcast: seconds from its start → `1:02:03`. */
export function formatOffset(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${Math.floor(whole / 3600)}:${pad(Math.floor(whole / 60) % 60)}:${pad(whole % 60)}`;
}
