import { useId, type ReactNode } from 'react';
import type { ConnectionStatus } from '../lib/live';
import { formatTime } from '../lib/format';

export const focusRing =
  'focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-300 outline-none';

export function Panel({
  title,
  id,
  actions,
  children,
  className = '',
}: {
  title: string;
  id: string;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section
      aria-labelledby={`${id}-title`}
      className={`rounded-xl border border-slate-800 bg-slate-900/70 p-4 shadow-sm ${className}`}
    >
      <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
        <h2 id={`${id}-title`} className="text-sm font-semibold tracking-wide text-slate-200 uppercase">
          {title}
        </h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

export function LoadingState({ label = 'Loading…', className = '' }: { label?: string; className?: string }) {
  return (
    <div role="status" className={`flex items-center gap-3 py-6 text-slate-300 ${className}`}>
      <span
        aria-hidden="true"
        className="size-4 animate-spin rounded-full border-2 border-slate-600 border-t-sky-300 motion-reduce:animate-none"
      />
      {label}
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="rounded-lg border border-dashed border-slate-700 px-4 py-6 text-center">
      <p className="font-medium text-slate-200">{title}</p>
      {children ? <div className="mt-1 text-sm text-slate-400">{children}</div> : null}
    </div>
  );
}

export function ErrorState({ title, detail, onRetry }: { title: string; detail?: string | null; onRetry?: () => void }) {
  return (
    <div role="alert" className="rounded-lg border border-rose-500/50 bg-rose-950/40 px-4 py-4">
      <p className="font-medium text-rose-200">{title}</p>
      {detail ? <p className="mt-1 text-sm text-rose-200/80">{detail}</p> : null}
      {onRetry ? (
        <button
          type="button"
          onClick={onRetry}
          className={`mt-3 rounded-md bg-rose-200 px-3 py-1.5 text-sm font-medium text-rose-950 hover:bg-rose-100 ${focusRing}`}
        >
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function LiveBadge({ live }: { live: boolean }) {
  return live ? (
    <span className="inline-flex items-center gap-1.5 rounded-full bg-red-600 px-2 py-0.5 text-xs font-bold tracking-wider text-white uppercase">
      <span aria-hidden="true" className="size-1.5 rounded-full bg-white motion-safe:animate-pulse" />
      Live
    </span>
  ) : (
    <span className="inline-flex items-center rounded-full bg-slate-700 px-2 py-0.5 text-xs font-bold tracking-wider text-slate-100 uppercase">
      Offline
    </span>
  );
}

const STATUS_TEXT: Record<ConnectionStatus, { label: string; dot: string; text: string }> = {
  connecting: { label: 'Connecting…', dot: 'bg-slate-400', text: 'text-slate-200' },
  live: { label: 'Live', dot: 'bg-emerald-400', text: 'text-emerald-200' },
  polling: { label: 'Live (polling)', dot: 'bg-emerald-400', text: 'text-emerald-200' },
  reconnecting: { label: 'Reconnecting…', dot: 'bg-amber-400', text: 'text-amber-200' },
  offline: { label: 'Offline', dot: 'bg-rose-400', text: 'text-rose-200' },
};

/** The state of the live connection, announced politely to screen readers when it changes. */
export function ConnectionIndicator({
  status,
  detail,
  lastUpdate,
}: {
  status: ConnectionStatus;
  detail?: string | null;
  lastUpdate?: number | null;
}) {
  const look = STATUS_TEXT[status];
  return (
    <div className="flex flex-wrap items-center gap-x-3 gap-y-1 text-sm">
      <span
        role="status"
        aria-live="polite"
        data-testid="connection-status"
        data-status={status}
        className={`inline-flex items-center gap-2 rounded-full border border-slate-700 bg-slate-900 px-2.5 py-1 font-medium ${look.text}`}
        title={detail ?? undefined}
      >
        <span
          aria-hidden="true"
          className={`size-2 rounded-full ${look.dot} ${status === 'reconnecting' || status === 'connecting' ? 'motion-safe:animate-pulse' : ''}`}
        />
        <span>
          <span className="sr-only">Connection: </span>
          {look.label}
        </span>
      </span>
      {lastUpdate ? (
        <span className="text-slate-400" data-testid="last-update" data-ts={lastUpdate}>
          Updated <time dateTime={new Date(lastUpdate).toISOString()}>{formatTime(lastUpdate, true)}</time>
        </span>
      ) : null}
    </div>
  );
}

export function Stat({
  label,
  value,
  sub,
  testId,
}: {
  label: string;
  value: ReactNode;
  sub?: ReactNode;
  testId?: string;
}) {
  return (
    <div className="rounded-xl border border-slate-800 bg-slate-900/70 px-4 py-3">
      <dt className="text-xs font-medium tracking-wide text-slate-400 uppercase">{label}</dt>
      <dd className="mt-1 text-2xl font-semibold text-slate-50 tabular-nums" data-testid={testId}>
        {value}
      </dd>
      {sub ? <dd className="mt-0.5 text-sm text-slate-300">{sub}</dd> : null}
    </div>
  );
}

/** A labelled `<select>` of the filter forms: its options as `[value, label]` pairs. */
export function SelectField({
  label,
  value,
  options,
  onChange,
  className = 'sm:w-44',
}: {
  label: string;
  value: string;
  options: readonly (readonly [string, string])[];
  onChange: (value: string) => void;
  className?: string;
}) {
  const id = useId();
  return (
    <div>
      <label htmlFor={id} className="mb-1 block text-sm font-medium text-slate-300">
        {label}
      </label>
      <select
        id={id}
        value={value}
        onChange={(event) => onChange(event.target.value)}
        className={`w-full rounded-lg border border-slate-700 bg-slate-900 px-3 py-2 text-slate-100 ${className} ${focusRing}`}
      >
        {options.map(([key, text]) => (
          <option key={key} value={key}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}
