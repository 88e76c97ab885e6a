// Emails' typed errors.
import { defineError } from '../../src/lib/errors.js'

export const UnknownTemplateError = defineError('UNKNOWN_EMAIL_TEMPLATE', 422, 'Unknown email template')
