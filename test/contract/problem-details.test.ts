// RFC 9457: a client that asks for application/problem+json gets problem details, with the same
// code and request id as the envelope everyone else gets.
import t from 'tap'
import { prefersProblemJson } from '../../src/lib/envelope.js'
import { build } from '../helpers/build.js'

const PROBLEM = 'application/problem+json'
const missingId = '01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01'

t.test('Accept decides between problem details and the envelope', async (t) => {
  const cases: [string | undefined, boolean][] = [
    [undefined, false],
    ['*/*', false],
    ['application/json', false],
    ['text/html, application/xhtml+xml, */*;q=0.8', false],
    [PROBLEM, true],
    ['Application/Problem+JSON', true],
    [`${PROBLEM}, application/json`, true],
    [`application/json, ${PROBLEM};q=0.5`, false],
    [`application/json;q=0.5, ${PROBLEM}`, true],
    [`${PROBLEM};q=0`, false],
    [`${PROBLEM};q=nonsense`, false],
  ]
  for (const [accept, problem] of cases) t.equal(prefersProblemJson(accept), problem, String(accept))
})

t.test('errors as problem details or as the envelope', async (t) => {
  const app = await build(t)

  t.test('a 404 as problem details', async (t) => {
    const res = await app.inject({ url: `/api/v1/products/${missingId}`, headers: { accept: PROBLEM, 'x-request-id': 'problem-1' } })
    t.equal(res.statusCode, 404)
    t.match(res.headers['content-type'], /^application\/problem\+json(;|$)/)
    t.same(res.json(), {
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: res.json().detail,
      instance: `/api/v1/products/${missingId}`,
      code: 'NOT_FOUND',
      requestId: 'problem-1',
      errors: [],
    })
    t.type(res.json().detail, 'string')
  })

  t.test('the same 404 as the envelope to everyone else', async (t) => {
    for (const accept of [undefined, 'application/json', '*/*']) {
      const res = await app.inject({
        url: `/api/v1/products/${missingId}`,
        headers: { ...(accept ? { accept } : {}), 'x-request-id': 'env-1' },
      })
      t.equal(res.statusCode, 404)
      t.match(res.headers['content-type'], /^application\/json/)
      t.match(res.json(), { success: false, code: 'NOT_FOUND', requestId: 'env-1', details: [] }, String(accept))
    }
  })

  t.test('validation errors keep one entry per field, under errors', async (t) => {
    const res = await app.inject({ url: '/api/v1/products?limit=0&minPrice=-1', headers: { accept: PROBLEM } })
    t.equal(res.statusCode, 400)
    const body = res.json()
    t.match(body, { title: 'Bad Request', status: 400, code: 'VALIDATION_ERROR', instance: '/api/v1/products' })
    t.same(body.errors.map((e: { field: string }) => e.field).sort(), ['limit', 'minPrice'])
    t.equal(body.requestId, res.headers['x-request-id'])
  })

  t.test("the framework's own errors and unknown routes too", async (t) => {
    const unsupported = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: { accept: PROBLEM, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'name=lamp',
    })
    t.equal(unsupported.statusCode, 415)
    t.match(unsupported.headers['content-type'], /^application\/problem\+json(;|$)/)
    t.match(unsupported.json(), { status: 415, title: 'Unsupported Media Type', code: 'UNSUPPORTED_MEDIA_TYPE' })

    const unknown = await app.inject({ url: '/api/v1/nowhere?x=1', headers: { accept: PROBLEM } })
    t.equal(unknown.statusCode, 404)
    t.match(unknown.json(), { status: 404, code: 'NOT_FOUND', instance: '/api/v1/nowhere' })
  })

  t.test('a successful answer stays JSON whatever Accept says', async (t) => {
    const res = await app.inject({ url: '/api/v1/products', headers: { accept: PROBLEM } })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    t.equal(res.json().success, true)
  })
})
