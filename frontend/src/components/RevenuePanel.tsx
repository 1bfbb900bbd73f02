import type { Totals } from '../lib/series';
import { formatCount, formatUsd } from '../lib/format';

const KIND_LABEL: Record<string, string> = {
  sub: 'Subscriptions',
  resub: 'Resubscriptions',
  gift: 'Gifted subs',
  bits: 'Bits',
  donation: 'Donations',
};

export function RevenuePanel({ totals, spanLabel }: { totals: Totals; spanLabel: string }) {
  const kinds = Object.entries(totals.transactions).sort((a, b) => b[1] - a[1]);
  const max = kinds[0]?.[1] ?? 1;
  const count = kinds.reduce((sum, [, n]) => sum + n, 0);
  return (
    <div data-testid="revenue">
      <dl className="grid grid-cols-3 gap-3">
        <div>
          <dt className="text-xs text-slate-400 uppercase">Revenue</dt>
          <dd className="text-xl font-semibold text-emerald-300 tabular-nums" data-testid="revenue-total">
            {formatUsd(totals.revenue)}
          </dd>
        </div>
        <div>
          <dt className="text-xs text-slate-400 uppercase">Transactions</dt>
          <dd className="text-xl font-semibold text-slate-50 tabular-nums">{formatCount(count)}</dd>
        </div>
        <div>
          <dt className="text-xs text-slate-400 uppercase">Bits cheered</dt>
          <dd className="text-xl font-semibold text-slate-50 tabular-nums">{formatCount(totals.bits)}</dd>
        </div>
      </dl>
      <p className="mt-1 text-xs text-slate-400">{spanLabel}</p>
      {kinds.length ? (
        <ul className="mt-3 space-y-1.5" aria-label="Transactions by kind">
          {kinds.map(([kind, n]) => (
            <li key={kind} className="grid grid-cols-[8.5rem_1fr_auto] items-center gap-2 text-sm">
              <span className="text-slate-200">{KIND_LABEL[kind] ?? kind}</span>
              <span aria-hidden="true" className="h-2 rounded bg-slate-800">
                <span className="block h-2 rounded bg-emerald-400/70" style={{ width: `${Math.max(3, (100 * n) / max)}%` }} />
              </span>
              <span className="text-slate-100 tabular-nums">{formatCount(n)}</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="mt-3 text-sm text-slate-400">No transactions in this span</p>
      )}
    </div>
  );
}
