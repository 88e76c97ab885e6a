import t from 'tap'
import { ifMatchAllows, isNotModified } from '../../src/lib/conditional.js'

t.test('If-None-Match: any listed tag (weakly) or * means not modified', async (t) => {
  t.equal(isNotModified(undefined, '"3"'), false)
  t.equal(isNotModified('"3"', '"3"'), true)
  t.equal(isNotModified('"1", W/"3"', '"3"'), true, 'weak comparison')
  t.equal(isNotModified('"2"', '"3"'), false)
  t.equal(isNotModified('*', '"3"'), true)
})

t.test('If-Match: absent or * allows; otherwise the current tag must be listed (strong)', async (t) => {
  t.equal(ifMatchAllows(undefined, '"3"'), true)
  t.equal(ifMatchAllows('*', '"3"'), true)
  t.equal(ifMatchAllows('"2", "3"', '"3"'), true)
  t.equal(ifMatchAllows('"2"', '"3"'), false)
  t.equal(ifMatchAllows('W/"3"', '"3"'), false, 'a weak tag never matches If-Match')
})
