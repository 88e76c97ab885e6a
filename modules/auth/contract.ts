// The auth module's public surface: the shapes of its token responses. Authentication itself
// (verifying tokens and keys) is the auth plugin's job: use fastify.authenticate / requirePermission.
export type { Tokens } from './schemas.js'
export type { AccessClaims } from '../../plugins/auth.js'
