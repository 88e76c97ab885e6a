// Webhooks' business events, published in the transaction of the change. A subscription disabled for
// failing tells its owner (and admins): their other subscriptions to webhook.disabled receive it.
import { Type } from '@sinclair/typebox'
import { defineEvent } from '../../plugins/events.js'
import { Id, Int } from '../../src/lib/schemas.js'

export const webhookDisabled = defineEvent({
  name: 'webhook.disabled',
  description: 'A webhook subscription kept failing and was disabled: its id, owner, URL and why (PATCH it with active: true to resume)',
  schema: Type.Object({
    webhookId: Id(),
    ownerId: Id('The subscription owner'),
    url: Type.String(),
    consecutiveFailures: Int(),
    reason: Type.String(),
  }),
  audience: (webhook) => ({ users: [webhook.ownerId], roles: ['admin'] }),
  audienceText: 'the owner and admins',
})

export default [webhookDisabled]
