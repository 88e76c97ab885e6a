import t from 'tap'
import { etagOf, isNotModified, parseIfMatch } from '../../src/lib/conditional.js'

t.test('If-None-Match: any listed tag (weakly) or * means not modified', async (t) => {
  t.equal(isNotModified(undefined, '"3"'), false)
  t.equal(isNotModified('"3"', '"3"'), true)
  t.equal(isNotModified('"1", W/"3"', '"3"'), true, 'weak comparison')
  t.equal(isNotModified('"2"', '"3"'), false)
  t.equal(isNotModified('*', '"3"'), true)
})

t.test('If-Match: absent or * sets no precondition; otherwise the versions listed (strong tags only)', async (t) => {
  t.equal(etagOf(3), '"3"')
  t.equal(parseIfMatch(undefined), undefined)
  t.equal(parseIfMatch(' * '), undefined)
  t.same(parseIfMatch('"2", "3"'), [2, 3])
  t.same(parseIfMatch('W/"3"'), [-1], 'a weak tag never matches If-Match')
  t.same(parseIfMatch('"abc"'), [-1], 'a tag that is not a version matches nothing')
  t.same(parseIfMatch('"99999999999"'), [-1], 'nor does a number no version column can hold')
})
