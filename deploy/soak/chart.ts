// The soak's chart as a self-contained SVG: requests per second, p50/p99 latency and errors per
// 10-second bin, one panel each on a shared time axis, every fault a shaded band with its name.
export interface Bin {
  t: number // seconds from the start
  rps: number
  p50: number // ms
  p99: number // ms
  errors: number // 5xx and unanswered requests in the bin
}
export interface FaultMark {
  kind: string
  start: number // s
  end: number // s
}

const W = 1000
const LEFT = 70
const RIGHT = 20
const PANEL = 150
const GAP = 45
const TOP = 50

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

function niceMax(v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p
}

export function chartSvg(bins: Bin[], faults: FaultMark[], title: string): string {
  const end = Math.max(bins.length ? bins.at(-1)!.t + 10 : 10, ...faults.map((f) => f.end))
  const x = (t: number) => LEFT + ((W - LEFT - RIGHT) * t) / end
  const panels: { label: string; series: { name: string; color: string; values: number[] }[]; bars?: boolean }[] = [
    { label: 'requests / s', series: [{ name: 'requests/s', color: '#1f77b4', values: bins.map((b) => b.rps) }] },
    {
      label: 'latency (ms)',
      series: [
        { name: 'p50', color: '#2ca02c', values: bins.map((b) => b.p50) },
        { name: 'p99', color: '#ff7f0e', values: bins.map((b) => b.p99) },
      ],
    },
    {
      label: 'errors / 10 s (5xx, no answer)',
      series: [{ name: 'errors', color: '#d62728', values: bins.map((b) => b.errors) }],
      bars: true,
    },
  ]
  const height = TOP + panels.length * (PANEL + GAP) + 30
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ]
  panels.forEach((panel, i) => {
    const top = TOP + i * (PANEL + GAP)
    const max = niceMax(Math.max(...panel.series.flatMap((s) => s.values), 0))
    const y = (v: number) => top + PANEL - (PANEL * v) / max
    for (const f of faults) {
      out.push(
        `<rect x="${x(f.start).toFixed(1)}" y="${top}" width="${Math.max(2, x(f.end) - x(f.start)).toFixed(1)}" height="${PANEL}" fill="#f2c14e" fill-opacity="0.35"/>`,
      )
      if (i === 0) out.push(`<text x="${x(f.start).toFixed(1)}" y="${top - 4}" font-size="10" fill="#8a6d00">${esc(f.kind)}</text>`)
    }
    out.push(`<rect x="${LEFT}" y="${top}" width="${W - LEFT - RIGHT}" height="${PANEL}" fill="none" stroke="#999"/>`)
    for (const frac of [0, 0.5, 1]) {
      const v = max * frac
      out.push(`<line x1="${LEFT - 4}" x2="${W - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`)
      out.push(`<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end">${Number(v.toPrecision(3))}</text>`)
    }
    out.push(`<text x="${LEFT}" y="${top + PANEL + 14}" fill="#555">${esc(panel.label)}</text>`)
    panel.series.forEach((s, k) => {
      if (panel.bars) {
        const w = Math.max(1, x(10) - x(0) - 1)
        bins.forEach((b, j) => {
          const v = s.values[j]!
          if (v > 0)
            out.push(
              `<rect x="${x(b.t).toFixed(1)}" y="${y(v).toFixed(1)}" width="${w.toFixed(1)}" height="${(top + PANEL - y(v)).toFixed(1)}" fill="${s.color}"/>`,
            )
        })
      } else {
        const points = bins.map((b, j) => `${x(b.t + 5).toFixed(1)},${y(s.values[j]!).toFixed(1)}`).join(' ')
        out.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`)
      }
      out.push(`<text x="${W - RIGHT - 90 + k * 45}" y="${top + PANEL + 14}" fill="${s.color}">${esc(s.name)}</text>`)
    })
  })
  const axisY = TOP + panels.length * (PANEL + GAP) - GAP + 30
  const step = end > 1200 ? 300 : end > 300 ? 60 : 30
  for (let t = 0; t <= end; t += step)
    out.push(
      `<text x="${x(t).toFixed(1)}" y="${axisY}" text-anchor="middle">${t / 60 >= 1 ? `${(t / 60).toFixed(t % 60 ? 1 : 0)} min` : `${t} s`}</text>`,
    )
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
