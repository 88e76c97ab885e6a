// Webhooks' audience rule: whether a subscription's owner may receive (or be shown) an event now,
// with its current role and status. Used when fanning out, before each attempt and when a delivery's
// payload is shown.
import type { EventEnvelope, Events } from '../../plugins/events.js'
import type { UserContract } from '../users/contract.js'

/** The JSON body POSTed to a receiver (stored as the delivery's payload). */
export interface DeliveryBody {
  type: string
  timestamp: string
  data: unknown
}

export interface AudienceDeps {
  users: Pick<UserContract, 'getAuthState'>
  events: Pick<Events, 'mayReceive'>
}

/**
 * Why a subscription's owner may not receive this event now — deleted, disabled, or not in the
 * event's audience with its current role — or null when it may. The auth state is the users
 * contract's (cached, and dropped by users whenever a role or status changes).
 */
export function createAudienceCheck({ users, events }: AudienceDeps) {
  return async function refusal(ownerId: string, event: Pick<EventEnvelope, 'type' | 'data'>): Promise<string | null> {
    const owner = await users.getAuthState(ownerId)
    if (!owner) return "the subscription's owner no longer exists"
    if (owner.status !== 'active') return "the subscription's owner is disabled"
    if (!events.mayReceive(event, { id: ownerId, role: owner.role })) {
      return `the subscription's owner (role ${owner.role}) is not in the audience of ${event.type}`
    }
    return null
  }
}
export type AudienceCheck = ReturnType<typeof createAudienceCheck>
