// The closed set of audit actions and subject kinds: one `enum` each in the spec (a drop-down in
// Swagger UI). A module that records a new kind of security-relevant change adds its action here.
export const AUDIT_ACTIONS = [
  'auth.login.succeeded',
  'auth.login.failed',
  'auth.logout',
  'auth.session.ended',
  'auth.refresh.reuse_detected',
  'user.registered',
  'user.updated',
  'user.email.verified',
  'user.email.change_requested',
  'user.email.changed',
  'user.password.changed',
  'user.password.reset',
  'user.role.changed',
  'user.status.changed',
  'user.deleted',
  'api_key.created',
  'api_key.rotated',
  'api_key.revoked',
  'webhook.created',
  'webhook.updated',
  'webhook.secret_rotated',
  'webhook.deleted',
] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export const AUDIT_SUBJECT_TYPES = ['user', 'session', 'api_key', 'webhook'] as const
export type AuditSubjectType = (typeof AUDIT_SUBJECT_TYPES)[number]

/** A small JSON of what changed: flat values only (never a secret: see `withoutSecrets`). */
export type AuditDetails = Record<string, string | number | boolean | null | string[]>
