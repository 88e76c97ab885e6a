// Email templates: each turns its data into a subject and a plain-text body. Data is validated
// against the template's TypeBox schema when the email is queued.
import { Type, type Static, type TSchema } from '@sinclair/typebox'

export const WelcomeData = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 200 })),
})
export type WelcomeData = Static<typeof WelcomeData>

export const OrderConfirmationData = Type.Object({
  orderId: Type.String(),
  totalCents: Type.Integer({ minimum: 0 }),
  currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
  items: Type.Optional(
    Type.Array(Type.Object({ name: Type.String(), quantity: Type.Integer({ minimum: 1 }), unitPriceCents: Type.Integer({ minimum: 0 }) })),
  ),
})
export type OrderConfirmationData = Static<typeof OrderConfirmationData>

interface Template<S extends TSchema> {
  schema: S
  render: (data: Static<S>) => { subject: string; text: string }
}

const money = (cents: number, currency = 'USD') => `${(cents / 100).toFixed(2)} ${currency}`

const welcome: Template<typeof WelcomeData> = {
  schema: WelcomeData,
  render: ({ name }) => ({
    subject: 'Welcome to Keel',
    text: `Hello${name ? ` ${name}` : ''},\n\nYour account is ready. Happy trading!\n\n— The Keel team\n`,
  }),
}

const orderConfirmation: Template<typeof OrderConfirmationData> = {
  schema: OrderConfirmationData,
  render: ({ orderId, totalCents, currency, items = [] }) => ({
    subject: `Order ${orderId} confirmed`,
    text: [
      'Thank you for your order.',
      '',
      `Order: ${orderId}`,
      ...items.map((i) => `  ${i.quantity} × ${i.name} @ ${money(i.unitPriceCents, currency)}`),
      `Total: ${money(totalCents, currency)}`,
      '',
      '— The Keel team',
      '',
    ].join('\n'),
  }),
}

export const templates = {
  welcome,
  'order-confirmation': orderConfirmation,
} as const

export type TemplateName = keyof typeof templates
export const TEMPLATE_NAMES = Object.keys(templates) as TemplateName[]
/** The data each template takes. */
export type TemplateData = { [K in TemplateName]: Static<(typeof templates)[K]['schema']> }
