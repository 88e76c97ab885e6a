// The server entry (`npm start`): HTTP API and workers in one process unless ROLE says otherwise.
import { run } from './start.js'

run()
