// Report files: CSV (RFC 4180, header row) and JSON.
import type { SalesDay } from '../orders/contract.js'

const csvField = (value: string | number) => {
  const s = String(value)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export function salesCsv(rows: SalesDay[]): string {
  const lines = [['day', 'orders', 'items_sold', 'revenue_cents'].join(',')]
  for (const r of rows) lines.push([r.day, r.orders, r.itemsSold, r.revenueCents].map(csvField).join(','))
  return lines.join('\r\n') + '\r\n'
}

export function salesJson(meta: { from: Date; to: Date; scope: string }, rows: SalesDay[]): string {
  const totals = rows.reduce(
    (t, r) => ({ orders: t.orders + r.orders, itemsSold: t.itemsSold + r.itemsSold, revenueCents: t.revenueCents + r.revenueCents }),
    { orders: 0, itemsSold: 0, revenueCents: 0 },
  )
  return JSON.stringify({
    type: 'sales',
    from: meta.from.toISOString(),
    to: meta.to.toISOString(),
    scope: meta.scope,
    generatedAt: new Date().toISOString(),
    totals,
    days: rows,
  })
}
