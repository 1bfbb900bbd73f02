// Emote cloud (D3): emotes packed as circles sized by count, each labelled; keyed joins with transitions so
// emotes grow, shrink and move smoothly as counts change instead of re-rendering from scratch.
import { hierarchy, pack, type HierarchyCircularNode } from 'd3-hierarchy';
import { select } from 'd3-selection';
import 'd3-transition';
import { useEffect, useRef, useState } from 'react';
import type { TopEmote } from '../api/types';

const PALETTE = ['#c4b5fd', '#7dd3fc', '#6ee7b7', '#fcd34d', '#f9a8d4', '#fdba74', '#a5b4fc', '#5eead4', '#f0abfc'];

export function emoteColor(emote: string): string {
  let hash = 0;
  for (let i = 0; i < emote.length; i++) hash = (hash * 31 + emote.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length]!;
}

interface Node {
  emote: string;
  count: number;
  children?: Node[];
}

type Leaf = HierarchyCircularNode<Node>;

export function layoutCloud(emotes: readonly TopEmote[], width: number, height: number): Leaf[] {
  const root = hierarchy<Node>({ emote: '', count: 0, children: emotes.map((e) => ({ ...e })) })
    .sum((d) => (d.children ? 0 : Math.max(d.count, 0.0001)))
    .sort((a, b) => (b.value ?? 0) - (a.value ?? 0));
  return pack<Node>().size([width, height]).padding(4)(root).leaves().filter((leaf) => leaf.data.emote !== '');
}

function fontSize(leaf: Leaf): number {
  const byRadius = leaf.r * 0.62;
  const byWidth = (1.8 * leaf.r) / Math.max(2, leaf.data.emote.length * 0.6);
  return Math.max(7, Math.min(byRadius, byWidth, 40));
}

export function EmoteCloud({ emotes, height = 260 }: { emotes: readonly TopEmote[]; height?: number }) {
  const container = useRef<HTMLDivElement>(null);
  const svgRef = useRef<SVGSVGElement>(null);
  const [width, setWidth] = useState(480);

  useEffect(() => {
    const element = container.current;
    if (!element || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setWidth(Math.max(200, Math.round(entry.contentRect.width)));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const svg = svgRef.current;
    if (!svg) return;
    const reduced = typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
    const duration = reduced ? 0 : 700;
    const leaves = layoutCloud(emotes, width, height);
    const groups = select(svg)
      .selectAll<SVGGElement, Leaf>('g.emote')
      .data(leaves, (d) => d.data.emote);

    // Positions and sizes are plain numeric attributes, so the transitions interpolate numbers.
    const entered = groups
      .enter()
      .append('g')
      .attr('class', 'emote')
      .attr('data-emote', (d) => d.data.emote);
    entered
      .append('circle')
      .attr('cx', (d) => d.x)
      .attr('cy', (d) => d.y)
      .attr('r', 0)
      .attr('fill', (d) => emoteColor(d.data.emote))
      .attr('fill-opacity', 0.16)
      .attr('stroke', (d) => emoteColor(d.data.emote))
      .attr('stroke-opacity', 0.45);
    entered
      .append('text')
      .attr('x', (d) => d.x)
      .attr('y', (d) => d.y)
      .attr('text-anchor', 'middle')
      .attr('dominant-baseline', 'central')
      .attr('fill', (d) => emoteColor(d.data.emote))
      .attr('font-weight', 600)
      .attr('font-size', 0)
      .text((d) => d.data.emote);

    const merged = entered.merge(groups);
    merged.attr('data-count', (d) => d.data.count);
    merged
      .select<SVGCircleElement>('circle')
      .transition()
      .duration(duration)
      .attr('cx', (d) => d.x)
      .attr('cy', (d) => d.y)
      .attr('r', (d) => d.r);
    merged
      .select<SVGTextElement>('text')
      .transition()
      .duration(duration)
      .attr('x', (d) => d.x)
      .attr('y', (d) => d.y)
      .attr('font-size', fontSize);

    const leaving = groups.exit<Leaf>();
    leaving.select('circle').transition().duration(duration).attr('r', 0);
    leaving.select('text').transition().duration(duration).attr('font-size', 0);
    leaving.transition().duration(duration).remove();
  }, [emotes, width, height]);

  const description = emotes.length
    ? `Emote cloud: ${emotes.map((e) => `${e.emote} ${e.count}`).join(', ')}`
    : 'Emote cloud: no emotes yet';
  return (
    <div ref={container} className="w-full" data-testid="emote-cloud">
      {emotes.length === 0 ? (
        <p className="py-10 text-center text-sm text-slate-400">No emotes in this span yet</p>
      ) : null}
      <svg
        ref={svgRef}
        role="img"
        aria-label={description}
        width="100%"
        height={emotes.length ? height : 0}
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="xMidYMid meet"
        style={{ fontFamily: 'inherit' }}
      />
    </div>
  );
}

export function TopEmotes({ emotes, limit = 10 }: { emotes: readonly TopEmote[]; limit?: number }) {
  const shown = emotes.slice(0, limit);
  const max = shown[0]?.count ?? 1;
  if (shown.length === 0) return <p className="text-sm text-slate-400">No emotes yet</p>;
  return (
    <ol className="space-y-1.5" aria-label="Top emotes" data-testid="top-emotes">
      {shown.map((e, index) => (
        <li key={e.emote} className="grid grid-cols-[1.5rem_1fr_auto] items-center gap-2 text-sm">
          <span className="text-right text-slate-400 tabular-nums">{index + 1}</span>
          <span className="relative overflow-hidden rounded bg-slate-800/80 px-2 py-0.5">
            <span
              aria-hidden="true"
              className="absolute inset-y-0 left-0 rounded bg-violet-500/30"
              style={{ width: `${Math.max(4, (100 * e.count) / max)}%` }}
            />
            <span className="relative font-medium text-slate-100">{e.emote}</span>
          </span>
          <span className="text-slate-200 tabular-nums">{e.count.toLocaleString()}</span>
        </li>
      ))}
    </ol>
  );
}
