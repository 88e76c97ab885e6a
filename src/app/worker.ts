// The worker entry (`npm run worker`): runs the modules' queued jobs, serves only /health and /metrics.
import { run } from './start.js'

run({ ROLE: 'worker' })
