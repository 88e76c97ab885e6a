// Demo data for the embedded default, written on first start only (each part checks that its
// data is missing). Each module's data goes in through that module's contract. Never in production:
// demo accounts with printed passwords have no place there (`npm run create-admin` makes the first admin).
import type { FastifyInstance } from 'fastify'

export async function seedDemoData(app: FastifyInstance): Promise<void> {
  if (app.config.NODE_ENV === 'production') {
    throw new Error('The demo seed refuses to run with NODE_ENV=production: create an admin with `npm run create-admin -- <email>`')
  }
  const users = app.users
  const seeded = await users.seedDemoUsers()
  if (!seeded) {
    app.log.debug('users exist already: demo users not seeded')
    return
  }
  // Printed once, on the first start: the passwords are not stored anywhere in clear.
  const line = '='.repeat(72)
  console.log(
    [
      '',
      line,
      '  Demo accounts created (first start only; these passwords are shown ONCE):',
      `    admin      ${seeded.admin.email.padEnd(24)} password: ${seeded.adminPassword}`,
      ...seeded.demo.map(({ user, password }) => `    ${user.role.padEnd(10)} ${user.email.padEnd(24)} password: ${password}`),
      '  Log in with POST /api/v1/auth/login, then use "Authorize" in Swagger UI.',
      line,
      '',
    ].join('\n'),
  )

  // A catalog sold by Alice and the moderator, and two orders placed by Bob.
  const [moderator, alice, bob] = seeded.demo.map((d) => d.user)
  if (!moderator || !alice || !bob) return
  const catalog = await app.products.seedDemoProducts([alice.id, moderator.id])
  const orders = app.orders
  const byName = (name: string) => catalog.find((p) => p.name === name)!.id
  await orders.placeFor(bob.id, [
    { productId: byName('Walnut desk lamp'), quantity: 1 },
    { productId: byName('Desk mat'), quantity: 2 },
  ])
  await orders.placeFor(bob.id, [{ productId: byName('Mechanical keyboard'), quantity: 1 }])
  app.log.info({ products: catalog.length, orders: 2 }, 'demo catalog and orders seeded')
}
