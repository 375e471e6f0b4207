/**
 * The benchmark chart, hand-written SVG (no dependency): per system, bars
 * of req/s and of p99 latency, writes and reads side by side.
 */
export interface ChartRow {
  label: string;
  write: { reqPerSec: number; p99Ms: number };
  read: { reqPerSec: number; p99Ms: number };
}

const SERIES = [
  { name: 'write (append one record)', color: '#2b6cb0' },
  { name: 'read (list summary)', color: '#9ac1e6' },
];

const LABEL_WIDTH = 230;
const PANEL_WIDTH = 330;
const PANEL_GAP = 40;
const ROW_HEIGHT = 34;
const BAR_HEIGHT = 12;
const TOP = 64;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const finite = (n: number) => (Number.isFinite(n) ? n : 0);

function format(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '–';
  if (unit === 'req/s') return value >= 10_000 ? `${(value / 1000).toFixed(1)}k` : String(Math.round(value));
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function panel(rows: ChartRow[], x: number, title: string, unit: string, pick: (m: ChartRow['write']) => number): string {
  const max = Math.max(1e-9, ...rows.flatMap((r) => [finite(pick(r.write)), finite(pick(r.read))]));
  const parts = [`<text x="${x}" y="${TOP - 14}" font-weight="bold">${escape(title)}</text>`];
  rows.forEach((row, i) => {
    const y = TOP + i * ROW_HEIGHT;
    parts.push(`<line x1="${x}" y1="${y - 2}" x2="${x}" y2="${y + 2 * BAR_HEIGHT + 2}" stroke="#888"/>`);
    [row.write, row.read].forEach((m, s) => {
      const value = pick(m);
      const width = Math.max(1, (finite(value) / max) * (PANEL_WIDTH - 60));
      const by = y + s * BAR_HEIGHT;
      parts.push(`<rect x="${x}" y="${by}" width="${width.toFixed(1)}" height="${BAR_HEIGHT - 1}" fill="${SERIES[s]!.color}"/>`);
      parts.push(`<text x="${(x + width + 4).toFixed(1)}" y="${by + BAR_HEIGHT - 2}" font-size="10">${format(value, unit)}</text>`);
    });
  });
  return parts.join('\n');
}

export function httpChart(rows: ChartRow[], caption: string): string {
  const width = LABEL_WIDTH + 2 * PANEL_WIDTH + PANEL_GAP + 20;
  const height = TOP + rows.length * ROW_HEIGHT + 50;
  const labels = rows.map(
    (row, i) => `<text x="${LABEL_WIDTH - 8}" y="${TOP + i * ROW_HEIGHT + BAR_HEIGHT + 4}" text-anchor="end">${escape(row.label)}</text>`,
  );
  const legendY = height - 22;
  const legend = SERIES.map(
    (s, i) =>
      `<rect x="${LABEL_WIDTH + i * 220}" y="${legendY - 10}" width="12" height="12" fill="${s.color}"/>` +
      `<text x="${LABEL_WIDTH + i * 220 + 18}" y="${legendY}">${escape(s.name)}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${escape(caption)}</text>
${labels.join('\n')}
${panel(rows, LABEL_WIDTH, 'requests per second (higher is better)', 'req/s', (m) => m.reqPerSec)}
${panel(rows, LABEL_WIDTH + PANEL_WIDTH + PANEL_GAP, 'p99 latency, ms (lower is better)', 'ms', (m) => m.p99Ms)}
${legend.join('\n')}
</svg>
`;
}
