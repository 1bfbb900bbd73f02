/** A small line of recent values (oldest first); decorative: the card states the numbers in text. */
export function Sparkline({
  values,
  width = 160,
  height = 36,
  color = '#a78bfa',
}: {
  values: readonly number[];
  width?: number;
  height?: number;
  color?: string;
}) {
  if (values.length < 2) {
    return <svg width={width} height={height} aria-hidden="true" data-testid="sparkline" data-points={values.length} />;
  }
  const max = Math.max(...values);
  const min = Math.min(...values);
  const top = max === min ? min + 1 : max;
  const x = (i: number) => 1 + (i * (width - 2)) / (values.length - 1);
  const y = (v: number) => height - 2 - ((v - min) * (height - 4)) / (top - min);
  const line = values.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
  const area = `${line}L${x(values.length - 1).toFixed(1)},${height}L${x(0).toFixed(1)},${height}Z`;
  return (
    <svg
      width="100%"
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      aria-hidden="true"
      data-testid="sparkline"
      data-points={values.length}
      className="block"
    >
      <path d={area} fill={color} opacity={0.15} />
      <path d={line} fill="none" stroke={color} strokeWidth={1.75} strokeLinejoin="round" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}
