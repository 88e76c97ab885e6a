// Test accounts and products for the products/orders tests: real users logged in over the real
// /api/v1/auth/login (test/helpers/auth.ts), products created over the API.
import type { FastifyInstance } from 'fastify'
import { createUser, type TestUser } from './auth.js'
import type { Role } from '../../src/lib/permissions.js'

export type Account = TestUser

export const account = (app: FastifyInstance, role: Role = 'user'): Promise<Account> => createUser(app, { role })

export interface NewProduct {
  name?: string
  priceCents?: number
  stock?: number
  status?: 'active' | 'inactive'
  description?: string
}

/** Create a product through the API as `owner`; returns its JSON. */
export async function product(app: FastifyInstance, owner: Account, input: NewProduct = {}) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: owner.headers,
    payload: { name: 'Widget', priceCents: 1250, stock: 10, ...input },
  })
  if (res.statusCode !== 201) throw new Error(`create product: ${res.statusCode} ${res.body}`)
  return res.json().data as { id: string; version: number; stock: number; priceCents: number; name: string; ownerId: string }
}
