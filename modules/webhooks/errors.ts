// Webhooks' typed errors.
import { defineError } from '../../src/lib/errors.js'

export const WebhookNotFoundError = defineError('NOT_FOUND', 404, 'Webhook not found')
export const DeliveryNotFoundError = defineError('NOT_FOUND', 404, 'Delivery not found')
/** The URL points at a private, loopback or link-local address (SSRF guard), or does not resolve. */
export const UnsafeWebhookUrlError = defineError('UNSAFE_WEBHOOK_URL', 400, 'The webhook URL is not allowed')
export const WebhookInactiveError = defineError('CONFLICT', 409, 'The webhook is not active')
