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
export const StaleWebhookError = defineError(
  'PRECONDITION_FAILED',
  412,
  'The webhook has changed since you read it (If-Match does not match its ETag)',
)
/** Its payload is not shown to (or kept for) an owner outside the event's audience, so there is nothing to send again. */
export const DeliveryNotReplayableError = defineError(
  'DELIVERY_NOT_REPLAYABLE',
  409,
  "This delivery cannot be sent again: the subscription's owner is not in the event's audience",
)
/** A signing secret is shown to the subscription's owner only: an admin may pause or delete another user's webhook, never hold its secret. */
export const RotateOthersSecretError = defineError('FORBIDDEN', 403, "Only the webhook's owner may rotate its secret")
