// A local webhook receiver for tests: node:http on 127.0.0.1 (port 0), recording every request and
// answering what the test scripts (status and headers per request number).
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  headers: IncomingHttpHeaders
  body: string
  at: number
}

export type Respond = (n: number) => { status: number; headers?: Record<string, string>; body?: string } | 'hang'

type Test = { teardown: (fn: () => unknown) => void }

export async function receiver(t: Test, respond: Respond = () => ({ status: 200 })) {
  const received: Received[] = []
  const state = { respond }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() })
      const answer = state.respond(received.length)
      if (answer === 'hang') return // never answer: the sender's timeout must fire
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers }).end(answer.body ?? 'ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    received,
    /** Drop every connection (requests left hanging fail at the sender). */
    dropConnections: () => server.closeAllConnections(),
    /** Change the script mid-test. */
    set: (next: Respond) => {
      state.respond = next
    },
  }
}
