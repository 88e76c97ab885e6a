// __Name__ service: business rules, no HTTP. A `user` changes only what it owns.
import { assertCanActOn, type Principal } from '../../plugins/rbac.js'
import type { ParsedList } from '../../src/lib/pagination.js'
import { __Item__NotFound } from './errors.js'
import type { __Item__Repository, __Item__Row } from './repository.js'
import type { __Item__, Create__Item__, __Item__Filters, Update__Item__ } from './schemas.js'

const toDto = (row: __Item__Row): __Item__ => ({
  ...row,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
})

export function create__Item__Service(repo: __Item__Repository) {
  async function load(id: string): Promise<__Item__Row> {
    const row = await repo.get(id)
    if (!row) throw new __Item__NotFound()
    return row
  }
  return {
    async list(list: ParsedList, filters: __Item__Filters) {
      const [rows, total] = await Promise.all([repo.list(list, filters), repo.count(filters)])
      return { items: rows.map(toDto), total }
    },
    async get(id: string) {
      return toDto(await load(id))
    },
    async create(caller: Principal, input: Create__Item__) {
      return toDto(await repo.insert(caller.id, input))
    },
    async update(caller: Principal, id: string, patch: Update__Item__) {
      assertCanActOn(caller, (await load(id)).ownerId, 'write')
      const row = await repo.update(id, patch)
      if (!row) throw new __Item__NotFound()
      return toDto(row)
    },
    async remove(caller: Principal, id: string) {
      assertCanActOn(caller, (await load(id)).ownerId, 'write')
      if (!(await repo.remove(id))) throw new __Item__NotFound()
    },
  }
}

export type __Item__Service = ReturnType<typeof create__Item__Service>
