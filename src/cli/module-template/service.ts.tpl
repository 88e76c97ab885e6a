// __Name__: the business rules (ownership, optimistic concurrency, cached list totals, events).
// No HTTP here: the routes read If-Match into `versions` and the error handler maps errors.
import type { Db } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import type { Events } from '../../plugins/events.js'
import { actsOnAnything, assertCanActOn, type Principal } from '../../src/lib/permissions.js'
import { newId } from '../../src/lib/ids.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import { __Item__NotFoundError, Stale__Item__Error } from './errors.js'
import { __camel__Created, __camel__Deleted, __camel__Updated } from './events.js'
import type { __Item__Repository, __Item__Row } from './repository.js'
import type { __Item__, __Item__Filters, Create__Item__Input, Update__Item__Input } from './schemas.js'

const COUNT_NAMESPACE = '__name__'

export interface __Item__ServiceDeps {
  db: Db
  /** Lists read here (a replica when configured). */
  dbRead: Db
  cache: Cache
  events: Events
  repo: __Item__Repository
}

const to__Item__ = (row: __Item__Row): __Item__ => ({ ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() })

export function create__Item__Service({ db, dbRead, cache, events, repo }: __Item__ServiceDeps) {
  /** The item, if the caller may see it (its owner, moderators, admins); 404 otherwise, so ids are not probed. */
  async function visible(principal: Principal, id: string): Promise<__Item__Row> {
    const row = await repo.findById(db, id)
    if (!row || (row.ownerId !== principal.id && !actsOnAnything(principal))) throw new __Item__NotFoundError()
    return row
  }

  return {
    /** Your own; everybody's (or one owner's) for moderators and admins. */
    async list(principal: Principal, filters: __Item__Filters, list: ParsedList): Promise<{ items: __Item__[]; meta: PageMeta }> {
      const scoped = { ...filters, ownerId: actsOnAnything(principal) ? filters.ownerId : principal.id }
      // The page and its total (cached, recounted once after a write) at once.
      const [rows, total] = await Promise.all([
        repo.list(dbRead, scoped, list),
        cache.count(COUNT_NAMESPACE, scoped, () => repo.count(dbRead, scoped)),
      ])
      return toPage(rows, list, to__Item__, total)
    },

    async get(principal: Principal, id: string): Promise<__Item__> {
      return to__Item__(await visible(principal, id))
    },

    async create(principal: Principal, input: Create__Item__Input): Promise<__Item__> {
      const item = await db.transaction(async (tx) => {
        const row = await repo.insert(tx, { id: newId(), ownerId: principal.id, name: input.name, description: input.description ?? '' })
        const created = to__Item__(row)
        await events.publish(__camel__Created, created, { tx })
        return created
      })
      await cache.invalidateCounts(COUNT_NAMESPACE)
      return item
    },

    /** Only the fields sent; with If-Match (`versions`) only to a version the caller saw (412 otherwise). */
    async update(principal: Principal, id: string, input: Update__Item__Input, versions?: number[]): Promise<__Item__> {
      const current = await visible(principal, id)
      assertCanActOn(principal, current.ownerId, 'write')
      if (versions && !versions.includes(current.version)) throw new Stale__Item__Error()
      const item = await db.transaction(async (tx) => {
        const row = await repo.update(tx, id, input, versions)
        if (!row) throw versions ? new Stale__Item__Error() : new __Item__NotFoundError()
        const updated = to__Item__(row)
        await events.publish(__camel__Updated, updated, { tx })
        return updated
      })
      await cache.invalidateCounts(COUNT_NAMESPACE)
      return item
    },

    async remove(principal: Principal, id: string): Promise<void> {
      const current = await visible(principal, id)
      assertCanActOn(principal, current.ownerId, 'write')
      await db.transaction(async (tx) => {
        const row = await repo.delete(tx, id)
        if (!row) throw new __Item__NotFoundError()
        await events.publish(__camel__Deleted, to__Item__(row), { tx })
      })
      await cache.invalidateCounts(COUNT_NAMESPACE)
    },
  }
}

export type __Item__Service = ReturnType<typeof create__Item__Service>
