// Business events. A module declares its events in events.ts (name, TypeBox payload, audience) and
// publishes them inside its own transaction: `app.events.publish(orderCreated, order, { tx })` writes
// one pg-boss job per subscriber queue, committed or rolled back with the change (the outbox).
// Subscribers are queues declared in other modules' jobs.ts with onEvent(), so a producer never knows
// (or imports) who listens. Every event has an audience: who may receive it (webhooks ask mayReceive).
import fp from 'fastify-plugin'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { newId } from '../src/lib/ids.js'
import { Id, Nullable, Timestamp } from '../src/lib/schemas.js'
import { currentRequestId } from './request-context.js'
import type { Role } from '../src/lib/permissions.js'
import type { JobContext, JobDefinition } from './queue/jobs.js'
import type { QueueTx } from './queue/transactions.js'

/**
 * Who may receive an event: anyone who may read the resource it is about. `public`: everyone; else
 * the users named (the buyer, the owner) and anyone with one of the roles (staff).
 */
export type Audience = { public: true } | { users: readonly string[]; roles: readonly Role[] }

export interface EventDefinition<S extends TSchema = TSchema> {
  /** `<resource>.<past-tense verb>`, e.g. `order.created`. */
  name: string
  description: string
  schema: S
  /** Who may receive it, decided from its payload (and checked again when it is delivered). */
  audience(data: Static<S>): Audience
  /** In plain words, for the docs (README, webhooks' event list). */
  audienceText: string
}

export const defineEvent = <S extends TSchema>(event: EventDefinition<S>): EventDefinition<S> => event

/** What a subscriber receives: the event's own id (stable across retries: dedupe by it), type, time, request and payload. */
export interface EventEnvelope<T = unknown> {
  id: string
  type: string
  occurredAt: string
  /** x-request-id of the request that caused it (null for jobs and scripts). */
  requestId: string | null
  data: T
}

const envelopeSchema = <S extends TSchema>(data: S) =>
  Type.Object({ id: Id(), type: Type.String(), occurredAt: Timestamp(), requestId: Nullable(Type.String()), data })

type SubscriberOptions = Omit<JobDefinition, 'schema' | 'handler' | 'events' | 'schedule'>

/** A subscriber queue (declare it in the subscribing module's jobs.ts) for one event, typed by its payload. */
export function onEvent<S extends TSchema>(
  event: EventDefinition<S>,
  job: SubscriberOptions & { handler(event: EventEnvelope<Static<S>>, ctx: JobContext): Promise<unknown> },
): JobDefinition {
  return { ...job, events: [event.name], schema: envelopeSchema(event.schema) } as unknown as JobDefinition
}

/** A subscriber queue for several events, or every declared event ('*'); the payload is checked at publish. */
export function onEvents(
  events: readonly EventDefinition[] | '*',
  job: SubscriberOptions & { handler(event: EventEnvelope, ctx: JobContext): Promise<unknown> },
): JobDefinition {
  return {
    ...job,
    events: events === '*' ? '*' : events.map((e) => e.name),
    schema: envelopeSchema(Type.Unknown()),
  } as unknown as JobDefinition
}

export interface Events {
  /** Declare a module's events (module discovery does this for every events.ts). */
  declare(...events: EventDefinition[]): void
  /** Validate the payload and queue it for every subscriber, in `tx` when given (it commits with your change). */
  publish<S extends TSchema>(event: EventDefinition<S>, data: Static<S>, options?: { tx?: QueueTx }): Promise<EventEnvelope<Static<S>>>
  /** Every declared event, by name. */
  catalog(): EventDefinition[]
  /** Whether this user may receive this event (its audience, from the payload). False for an undeclared event. */
  mayReceive(event: Pick<EventEnvelope, 'type' | 'data'>, user: { id: string; role: Role }): boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    events: Events
  }
}

export default fp(
  async (fastify) => {
    const declared = new Map<string, EventDefinition>()

    const subscribersOf = (name: string) =>
      [...fastify.jobs.definitions.values()].filter((def) => def.events === '*' || def.events?.includes(name)).map((def) => def.name)

    const events: Events = {
      declare(...defs) {
        for (const def of defs) {
          if (declared.has(def.name)) throw new Error(`event ${def.name} is declared twice`)
          declared.set(def.name, def)
        }
      },

      async publish(event, data, { tx } = {}) {
        if (declared.get(event.name) !== (event as EventDefinition))
          throw new Error(`event ${event.name} is not declared (modules/<name>/events.ts)`)
        if (!Value.Check(event.schema, data)) {
          const first = [...Value.Errors(event.schema, data)][0]
          throw new Error(`invalid payload for event ${event.name}: ${first?.path || '/'} ${first?.message}`)
        }
        const envelope = {
          id: newId(),
          type: event.name,
          occurredAt: new Date().toISOString(),
          requestId: currentRequestId() ?? null,
          data,
        }
        const queues = subscribersOf(event.name)
        await fastify.jobs.insert(
          queues.map((name) => ({ name, data: envelope })),
          { tx },
        )
        // One line per business event: queued, not yet delivered — with `tx` the jobs exist only once that
        // transaction commits (a rollback drops them and this line stands alone; `inTransaction` says which).
        fastify.log.info({ event: event.name, eventId: envelope.id, subscribers: queues, inTransaction: tx !== undefined }, event.name)
        return envelope
      },

      catalog: () => [...declared.values()],

      mayReceive({ type, data }, user) {
        const def = declared.get(type)
        if (!def) return false
        const audience = def.audience(data as never)
        return 'public' in audience || audience.users.includes(user.id) || audience.roles.includes(user.role)
      },
    }
    fastify.decorate('events', events)
  },
  { fastify: '5.x', name: 'events', dependencies: ['queue'] },
)
