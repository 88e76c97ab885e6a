// Typed errors of the api-keys module.
import { defineError } from '../../src/lib/errors.js'

export const ApiKeyNotFoundError = defineError('NOT_FOUND', 404, 'API key not found')
export const ScopeNotAllowedError = defineError('FORBIDDEN', 403, 'A key cannot have a scope its owner lacks')
