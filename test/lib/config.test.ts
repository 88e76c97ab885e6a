import t from 'tap'
import { ConfigError, loadConfig } from '../../src/lib/config.js'

t.test('defaults apply and strings are converted to their types', async (t) => {
  const config = loadConfig({ PORT: '8080', RATE_LIMIT_FAIL_OPEN: 'false' })
  t.equal(config.PORT, 8080)
  t.equal(config.RATE_LIMIT_FAIL_OPEN, false)
  t.equal(config.ROLE, 'all')
  t.equal(config.DB_POOL_MAX, 10)
})

t.test('a bad value stops start-up with a message naming the variable', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), { name: 'ConfigError', message: /PORT="eighty"/ })
  t.throws(() => loadConfig({ ROLE: 'everything' }), { message: /ROLE="everything"/ })
  t.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), { message: /DATABASE_URL/ })
  t.throws(() => loadConfig({ JWT_SECRET: 'short' }), { message: /JWT_SECRET/ })
})

t.test('production requires a JWT secret', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), ConfigError)
  t.doesNotThrow(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }))
})
