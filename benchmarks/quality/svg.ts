/** A tiny dependency-free SVG line chart: one panel per group, one polyline (with markers) per series. */

export interface Series {
  readonly label: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
}

export interface Panel {
  readonly title: string;
  readonly series: readonly Series[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f'];

export function lineChartSvg(
  panels: readonly Panel[],
  xLabel: string,
  yLabel: string,
  title: string,
  /** Start the y axis at 0 (errors) or fit it to the data (log perplexities). */
  yFromZero = true,
): string {
  const pw = 460;
  const ph = 340;
  const margin = { left: 62, right: 16, top: 52, bottom: 48 };
  const legendHeight = 20 * Math.ceil(Math.max(...panels.map((p) => p.series.length)) / 2) + 10;
  const width = panels.length * (pw + margin.left + margin.right);
  const height = margin.top + ph + margin.bottom + legendHeight;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  );
  const labels = [...new Set(panels.flatMap((p) => p.series.map((s) => s.label)))];
  panels.forEach((panel, pi) => {
    const x0 = pi * (pw + margin.left + margin.right) + margin.left;
    const y0 = margin.top;
    const all = panel.series.flatMap((s) => s.points);
    if (all.length === 0) return;
    const [xmin, xmax] = niceRange(all.map((p) => p[0]));
    const [ymin, ymax] = niceRange(
      all.map((p) => p[1]),
      yFromZero,
    );
    const sx = (x: number) => x0 + ((x - xmin) / (xmax - xmin)) * pw;
    const sy = (y: number) => y0 + ph - ((y - ymin) / (ymax - ymin)) * ph;
    parts.push(
      `<text x="${x0 + pw / 2}" y="${y0 - 10}" text-anchor="middle" font-size="13">${esc(panel.title)}</text>`,
    );
    parts.push(`<rect x="${x0}" y="${y0}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    for (const t of ticks(xmin, xmax)) {
      parts.push(`<line x1="${sx(t)}" y1="${y0}" x2="${sx(t)}" y2="${y0 + ph}" stroke="#eee"/>`);
      parts.push(`<text x="${sx(t)}" y="${y0 + ph + 16}" text-anchor="middle">${fmt(t)}</text>`);
    }
    for (const t of ticks(ymin, ymax)) {
      parts.push(`<line x1="${x0}" y1="${sy(t)}" x2="${x0 + pw}" y2="${sy(t)}" stroke="#eee"/>`);
      parts.push(`<text x="${x0 - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
    }
    parts.push(`<text x="${x0 + pw / 2}" y="${y0 + ph + 36}" text-anchor="middle">${esc(xLabel)}</text>`);
    parts.push(
      `<text x="${x0 - 46}" y="${y0 + ph / 2}" text-anchor="middle" transform="rotate(-90 ${x0 - 46} ${y0 + ph / 2})">${esc(yLabel)}</text>`,
    );
    for (const s of panel.series) {
      const color = COLORS[labels.indexOf(s.label) % COLORS.length]!;
      const pts = [...s.points].sort((a, b) => a[0] - b[0]);
      if (pts.length > 1) {
        parts.push(
          `<polyline fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts
            .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
            .join(' ')}"/>`,
        );
      }
      for (const [x, y] of pts)
        parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${color}"/>`);
    }
    panel.series.forEach((s, i) => {
      const color = COLORS[labels.indexOf(s.label) % COLORS.length]!;
      const lx = x0 + (i % 2) * (pw / 2);
      const ly = y0 + ph + margin.bottom + 4 + 20 * Math.floor(i / 2);
      parts.push(
        `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
        `<circle cx="${lx + 12}" cy="${ly}" r="3.5" fill="${color}"/>`,
        `<text x="${lx + 30}" y="${ly + 4}">${esc(s.label)}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceRange(values: readonly number[], fromZero = false): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (fromZero) lo = 0;
  if (hi === lo) hi = lo + 1;
  const pad = (hi - lo) * 0.06;
  return [fromZero ? 0 : lo - pad, hi + pad];
}

function ticks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(Number(t.toFixed(10)));
  return out;
}

function fmt(x: number): string {
  return String(Number(x.toFixed(4)));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
