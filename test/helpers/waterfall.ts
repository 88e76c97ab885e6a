// A trace drawn as a waterfall (SVG): one row per span, indented under its parent, its bar placed on
// the trace's time axis. The README's picture of an order's trace is drawn by test/observability/trace.test.ts.
import type { ReceivedSpan } from './otlp-receiver.js'

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function waterfall(spans: ReceivedSpan[], { title = '' }: { title?: string } = {}): string {
  const byId = new Map(spans.map((s) => [s.spanId, s]))
  const children = new Map<string | undefined, ReceivedSpan[]>()
  for (const s of spans) {
    const parent = s.parentSpanId && byId.has(s.parentSpanId) ? s.parentSpanId : undefined
    children.set(parent, [...(children.get(parent) ?? []), s])
  }
  const rows: { span: ReceivedSpan; depth: number }[] = []
  const walk = (id: string | undefined, depth: number) => {
    for (const s of (children.get(id) ?? []).sort((a, b) => (a.start < b.start ? -1 : 1))) {
      rows.push({ span: s, depth })
      walk(s.spanId, depth + 1)
    }
  }
  walk(undefined, 0)
  const t0 = spans.reduce((m, s) => (s.start < m ? s.start : m), spans[0]!.start)
  const t1 = spans.reduce((m, s) => (s.end > m ? s.end : m), spans[0]!.end)
  const total = Number(t1 - t0) / 1e6 || 1
  const [labelWidth, barWidth, rowHeight, top] = [420, 560, 18, 40]
  const x = (t: bigint) => labelWidth + (Number(t - t0) / 1e6 / total) * barWidth
  const colour = (s: ReceivedSpan) =>
    s.attributes['db.system.name'] === 'postgresql'
      ? '#4e79a7'
      : s.attributes['db.system.name'] === 'redis'
        ? '#e15759'
        : s.name.startsWith('job ') || s.attributes['messaging.system']
          ? '#f28e2b'
          : s.kind === 3
            ? '#59a14f'
            : '#9c755f'
  const lines = rows.map(({ span, depth }, i) => {
    const y = top + i * rowHeight
    const ms = Number(span.end - span.start) / 1e6
    const w = Math.max(1, x(span.end) - x(span.start))
    return (
      `<text x="${4 + depth * 12}" y="${y + 13}">${escape(span.name.slice(0, 48))}</text>` +
      `<rect x="${x(span.start).toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="12" fill="${colour(span)}"/>` +
      `<text x="${Math.min(x(span.start) + w + 4, labelWidth + barWidth - 60).toFixed(1)}" y="${y + 13}" fill="#555">${ms.toFixed(1)} ms</text>`
    )
  })
  const height = top + rows.length * rowHeight + 10
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + barWidth + 70}" height="${height}" font-family="monospace" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="4" y="16" font-size="13" font-weight="bold">${escape(title)} — ${total.toFixed(0)} ms, ${rows.length} spans</text>`,
    `<text x="4" y="32" fill="#555">blue: PostgreSQL · red: Redis · orange: jobs and pg-boss · green: outgoing HTTP · brown: HTTP server, routes and hooks</text>`,
    ...lines,
    '</svg>',
    '',
  ].join('\n')
}
