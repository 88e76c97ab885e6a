// Webhooks: typed errors (code + status), mapped to the error envelope by plugins/errors.ts.
import { defineError } from '../../src/lib/errors.js'

export const WebhookNotFoundError = defineError('NOT_FOUND', 404, 'Webhook not found')
export const DeliveryNotFoundError = defineError('NOT_FOUND', 404, 'Delivery not found')
/** The SSRF guard refused the URL. The message never says what the host resolves to. */
export const UnsafeWebhookUrlError = defineError('UNSAFE_WEBHOOK_URL', 400, 'The webhook URL must resolve to public addresses only')
export const WebhookLimitError = defineError(
  'WEBHOOK_LIMIT_REACHED',
  409,
  'You have as many webhooks as allowed; delete one first',
  'You have 25 webhooks, as many as allowed; delete one first',
)
