import type { Moment } from '../api/types';
import { formatDuration, formatOffset, formatTime } from '../lib/format';
import { MOMENT_COLOR, MOMENT_LABEL, MomentIcon } from './MomentIcon';
import { EmptyState, focusRing } from './ui';

function valueText(moment: Moment): string {
  const digits = Math.abs(moment.value) >= 100 ? 0 : 2;
  return `${moment.metric.replaceAll('_', ' ')} ${moment.value.toFixed(digits)} vs baseline ${moment.baseline.toFixed(digits)}`;
}

/** Moments newest first; each is a button that zooms the charts to it (pressed while zoomed). */
export function MomentsTimeline({
  moments,
  selectedId,
  onSelect,
}: {
  moments: readonly Moment[];
  selectedId: string | null;
  onSelect: (moment: Moment) => void;
}) {
  if (moments.length === 0) {
    return (
      <EmptyState title="No moments yet">
        Chat spikes, raids, viewer surges and drops, sentiment swings and revenue spikes show up here as they are
        detected.
      </EmptyState>
    );
  }
  return (
    <div className="max-h-[36rem] overflow-y-auto pr-1 pl-2">
      <ol className="relative space-y-2 border-l border-slate-700 pl-4" aria-label="Moments, newest first" data-testid="moments">
        {moments.map((moment) => {
          const start = Date.parse(moment.start);
          const end = Date.parse(moment.end);
          const selected = moment.moment_id === selectedId;
          return (
            <li key={moment.moment_id} className="relative">
              <span
                aria-hidden="true"
                className="absolute top-3 -left-[1.32rem] size-2.5 rounded-full ring-2 ring-slate-900"
                style={{ background: MOMENT_COLOR[moment.kind] }}
              />
              <button
                type="button"
                aria-pressed={selected}
                onClick={() => onSelect(moment)}
                data-testid="moment"
                data-moment-id={moment.moment_id}
                data-kind={moment.kind}
                className={`flex w-full items-start gap-3 rounded-lg border px-3 py-2 text-left transition-colors ${
                  selected ? 'border-amber-300/70 bg-amber-300/10' : 'border-slate-800 bg-slate-900 hover:border-slate-600'
                } ${focusRing}`}
              >
                <MomentIcon kind={moment.kind} className="mt-0.5 size-5 shrink-0" />
                <span className="min-w-0 flex-1">
                  <span className="flex flex-wrap items-baseline gap-x-2">
                    <span className="font-semibold text-slate-100">{MOMENT_LABEL[moment.kind]}</span>
                    <time dateTime={moment.start} className="text-sm text-slate-300 tabular-nums">
                      {formatTime(start, true)}
                    </time>
                    {end > start ? <span className="text-xs text-slate-400">{formatDuration(end - start)}</span> : null}
                    {moment.offset_seconds != null ? (
                      <span className="text-xs text-slate-400 tabular-nums" data-testid="moment-offset">
                        {formatOffset(moment.offset_seconds)} into the stream
                      </span>
                    ) : null}
                    {moment.ongoing ? (
                      <span className="rounded bg-amber-300 px-1.5 text-xs font-semibold text-slate-950">ongoing</span>
                    ) : null}
                  </span>
                  <span className="block text-sm text-slate-200">{moment.description}</span>
                  <span className="block text-xs text-slate-400">{valueText(moment)}</span>
                </span>
                <span className="sr-only">{selected ? '(charts zoomed to this moment)' : '(zoom the charts to this moment)'}</span>
              </button>
              {moment.vod_url ? (
                <a
                  href={moment.vod_url}
                  target="_blank"
                  rel="noopener noreferrer"
                  data-testid="moment-vod"
                  className={`mt-1 ml-11 inline-block rounded text-xs text-violet-300 underline hover:text-violet-200 ${focusRing}`}
                >
                  Watch on Twitch at {formatOffset(moment.offset_seconds ?? 0)}
                  <span className="sr-only"> ({MOMENT_LABEL[moment.kind]}, opens in a new tab)</span>
                </a>
              ) : null}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
