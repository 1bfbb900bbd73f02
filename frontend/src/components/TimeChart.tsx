// Time-series charts (Recharts): chat rate, viewers and sentiment over the chosen range or a zoomed span.
import {
  Area,
  CartesianGrid,
  ComposedChart,
  Line,
  ReferenceArea,
  ReferenceDot,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { Moment } from '../api/types';
import { formatTime } from '../lib/format';
import type { ChartPoint } from '../lib/series';
import { MOMENT_COLOR, MOMENT_LABEL } from './MomentIcon';

export interface ChartSeries {
  key: keyof ChartPoint;
  name: string;
  color: string;
  kind: 'line' | 'area' | 'stack';
  axis?: 'left' | 'right';
  format: (value: number) => string;
}

const AXIS = { stroke: '#475569', tick: { fill: '#cbd5e1', fontSize: 12 } };

function tickTimes(from: number, to: number, count: number): number[] {
  const span = to - from;
  const steps = [10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3];
  const step = steps.find((s) => span / s <= count) ?? steps[steps.length - 1]!;
  const ticks: number[] = [];
  // Align to the viewer's wall clock (minutes and hours in their time zone).
  const offset = new Date(from).getTimezoneOffset() * 60_000;
  for (let t = Math.ceil((from - offset) / step) * step + offset; t <= to; t += step) ticks.push(t);
  return ticks;
}

export function TimeChart({
  id,
  label,
  points,
  series,
  domain,
  peaks = [],
  peakKey,
  moments = [],
  highlight,
  height = 220,
  yDomain,
  summary,
}: {
  id: string;
  label: string;
  points: ChartPoint[];
  series: ChartSeries[];
  domain: [number, number];
  peaks?: ChartPoint[];
  peakKey?: keyof ChartPoint;
  moments?: Moment[];
  highlight?: { from: number; to: number } | null;
  height?: number;
  yDomain?: [number | 'auto', number | 'auto'];
  summary: string;
}) {
  const inDomain = points.filter((p) => p.t >= domain[0] && p.t <= domain[1]);
  const seconds = domain[1] - domain[0] <= 30 * 60_000;
  const hasRight = series.some((s) => s.axis === 'right');
  return (
    <figure
      className="m-0"
      data-testid={`chart-${id}`}
      data-domain-from={Math.round(domain[0])}
      data-domain-to={Math.round(domain[1])}
      data-points={inDomain.filter((p) => p.messages !== null).length}
    >
      <figcaption className="sr-only">
        {label}. {summary}
      </figcaption>
      {inDomain.length === 0 ? (
        <div
          className="flex items-center justify-center rounded-lg border border-dashed border-slate-700 text-sm text-slate-400"
          style={{ height }}
        >
          No data in this span yet
        </div>
      ) : (
        <div style={{ height }} aria-hidden="true">
          <ResponsiveContainer width="100%" height="100%" initialDimension={{ width: 600, height }}>
            <ComposedChart data={inDomain} margin={{ top: 12, right: hasRight ? 4 : 12, bottom: 0, left: 0 }} accessibilityLayer={false}>
              <CartesianGrid stroke="#1e293b" vertical={false} />
              <XAxis
                dataKey="t"
                type="number"
                scale="time"
                domain={domain}
                allowDataOverflow
                ticks={tickTimes(domain[0], domain[1], 6)}
                tickFormatter={(t: number) => formatTime(t, seconds)}
                {...AXIS}
              />
              <YAxis
                yAxisId="left"
                width={48}
                domain={yDomain ?? ['auto', 'auto']}
                tickFormatter={(v: number) => series.find((s) => (s.axis ?? 'left') === 'left')?.format(v) ?? String(v)}
                {...AXIS}
              />
              {hasRight ? (
                <YAxis
                  yAxisId="right"
                  orientation="right"
                  width={40}
                  domain={[-1, 1]}
                  tickFormatter={(v: number) => v.toFixed(1)}
                  {...AXIS}
                />
              ) : null}
              <Tooltip
                isAnimationActive={false}
                cursor={{ stroke: '#64748b' }}
                content={({ active, payload }) => {
                  const point = active ? (payload?.[0]?.payload as ChartPoint | undefined) : undefined;
                  if (!point || point.messages === null) return null;
                  return (
                    <div className="rounded-md border border-slate-700 bg-slate-950/95 px-3 py-2 text-xs shadow-lg">
                      <p className="mb-1 font-medium text-slate-200">
                        {formatTime(point.start, true)} – {formatTime(point.t, true)}
                        {point.final ? '' : ' (open)'}
                      </p>
                      {series.map((s) => {
                        const value = point[s.key];
                        return (
                          <p key={String(s.key)} className="flex justify-between gap-4 text-slate-300">
                            <span style={{ color: s.color }}>{s.name}</span>
                            <span className="tabular-nums">{typeof value === 'number' ? s.format(value) : '—'}</span>
                          </p>
                        );
                      })}
                    </div>
                  );
                }}
              />
              {highlight ? (
                <ReferenceArea
                  yAxisId="left"
                  x1={highlight.from}
                  x2={highlight.to}
                  fill="#fcd34d"
                  fillOpacity={0.12}
                  stroke="#fcd34d"
                  strokeOpacity={0.4}
                  ifOverflow="hidden"
                />
              ) : null}
              {moments
                .filter((m) => {
                  const t = Date.parse(m.start);
                  return t >= domain[0] && t <= domain[1];
                })
                .map((m) => (
                  <ReferenceLine
                    key={m.moment_id}
                    yAxisId="left"
                    x={Date.parse(m.start)}
                    stroke={MOMENT_COLOR[m.kind]}
                    strokeDasharray="3 3"
                    strokeOpacity={0.7}
                    ifOverflow="hidden"
                    label={{ value: MOMENT_LABEL[m.kind], position: 'insideTopLeft', fill: MOMENT_COLOR[m.kind], fontSize: 10 }}
                  />
                ))}
              {series.map((s) =>
                s.kind === 'line' ? (
                  <Line
                    key={String(s.key)}
                    yAxisId={s.axis ?? 'left'}
                    type="monotone"
                    dataKey={s.key}
                    name={s.name}
                    stroke={s.color}
                    strokeWidth={2}
                    dot={false}
                    isAnimationActive={false}
                    connectNulls={false}
                  />
                ) : (
                  <Area
                    key={String(s.key)}
                    yAxisId={s.axis ?? 'left'}
                    type="monotone"
                    dataKey={s.key}
                    name={s.name}
                    stroke={s.color}
                    fill={s.color}
                    fillOpacity={s.kind === 'stack' ? 0.55 : 0.18}
                    strokeWidth={s.kind === 'stack' ? 1 : 2}
                    isAnimationActive={false}
                    connectNulls={false}
                    {...(s.kind === 'stack' ? { stackId: 'split' } : {})}
                  />
                ),
              )}
              {peakKey
                ? peaks
                    .filter((p) => p.t >= domain[0] && p.t <= domain[1])
                    .map((p) => (
                      <ReferenceDot
                        key={`peak-${p.t}`}
                        yAxisId="left"
                        x={p.t}
                        y={p[peakKey] as number}
                        r={4}
                        fill="#fcd34d"
                        stroke="#0f172a"
                        label={{ value: '▲ peak', position: 'top', fill: '#fde68a', fontSize: 11 }}
                      />
                    ))
                : null}
            </ComposedChart>
          </ResponsiveContainer>
        </div>
      )}
    </figure>
  );
}
