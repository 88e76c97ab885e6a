// Email templates: each turns its data into a subject and a plain-text body. Data is stripped of
// control characters (names and other text users typed) and checked against the template's schema
// before it is rendered.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Id, Int, Money } from '../../src/lib/schemas.js'

const Name = Type.String({ maxLength: 200, description: "The recipient's name" })

export const WelcomeData = Type.Object({ name: Type.Optional(Name) })

const Link = Type.String({ maxLength: 2000, description: 'A link carrying a single-use token' })
const Address = Type.String({ maxLength: 254, description: 'An email address' })

export const VerifyEmailData = Type.Object({ name: Type.Optional(Name), link: Link, validHours: Int({ minimum: 1 }) })
export const ResetPasswordData = Type.Object({ name: Type.Optional(Name), link: Link, validMinutes: Int({ minimum: 1 }) })
export const ConfirmEmailChangeData = Type.Object({
  name: Type.Optional(Name),
  link: Link,
  newEmail: Address,
  validHours: Int({ minimum: 1 }),
})
export const EmailChangeRequestedData = Type.Object({ name: Type.Optional(Name), newEmail: Address })
export const EmailChangeRefusedData = Type.Object({})

export const OrderConfirmationData = Type.Object({
  name: Type.Optional(Name),
  orderId: Id(),
  totalCents: Money(),
  currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
  items: Type.Optional(
    Type.Array(Type.Object({ name: Type.String({ maxLength: 200 }), quantity: Int({ minimum: 1 }), unitPriceCents: Money() }), {
      maxItems: 100,
    }),
  ),
})

interface Template<S extends TSchema> {
  schema: S
  render: (data: Static<S>) => { subject: string; text: string }
}

const money = (cents: number, currency = 'USD') => `${(cents / 100).toFixed(2)} ${currency}`
const hello = (name: string | undefined) => `Hello${name ? ` ${name}` : ''},`

const welcome: Template<typeof WelcomeData> = {
  schema: WelcomeData,
  render: ({ name }) => ({
    subject: 'Welcome to Keel',
    text: `${hello(name)}\n\nYour account is ready. Happy trading!\n\n— The Keel team\n`,
  }),
}

const signature = '— The Keel team\n'
const notYou = 'If this was not you, ignore this email: nothing changes until the link is opened.'

const verifyEmail: Template<typeof VerifyEmailData> = {
  schema: VerifyEmailData,
  render: ({ name, link, validHours }) => ({
    subject: 'Confirm your email address',
    text: [
      hello(name),
      '',
      'Confirm that this address is yours by opening this link:',
      '',
      link,
      '',
      `It works once, for ${validHours} hours. ${notYou}`,
      '',
      signature,
    ].join('\n'),
  }),
}

const resetPassword: Template<typeof ResetPasswordData> = {
  schema: ResetPasswordData,
  render: ({ name, link, validMinutes }) => ({
    subject: 'Reset your Keel password',
    text: [
      hello(name),
      '',
      'Someone (hopefully you) asked to reset the password of your Keel account. Choose a new one here:',
      '',
      link,
      '',
      `It works once, for ${validMinutes} minutes, and signs you out everywhere. ${notYou}`,
      '',
      signature,
    ].join('\n'),
  }),
}

const confirmEmailChange: Template<typeof ConfirmEmailChangeData> = {
  schema: ConfirmEmailChangeData,
  render: ({ name, link, newEmail, validHours }) => ({
    subject: 'Confirm your new email address',
    text: [
      hello(name),
      '',
      `Your Keel account asked to use ${newEmail} from now on. Confirm it by opening this link:`,
      '',
      link,
      '',
      `It works once, for ${validHours} hours. ${notYou}`,
      '',
      signature,
    ].join('\n'),
  }),
}

const emailChangeRequested: Template<typeof EmailChangeRequestedData> = {
  schema: EmailChangeRequestedData,
  render: ({ name, newEmail }) => ({
    subject: 'Your Keel email address is about to change',
    text: [
      hello(name),
      '',
      `Someone signed in to your Keel account asked to move it to ${newEmail}. It moves once that address confirms.`,
      '',
      'If this was not you, change your password now (which cancels the move) and log out everywhere.',
      '',
      signature,
    ].join('\n'),
  }),
}

const emailChangeRefused: Template<typeof EmailChangeRefusedData> = {
  schema: EmailChangeRefusedData,
  render: () => ({
    subject: 'Someone tried to use your address on Keel',
    text: [
      'Hello,',
      '',
      'Someone asked to move another Keel account to this address, which already has an account. Nothing changed.',
      '',
      'If this was you, log in with this address instead. Otherwise, ignore this email.',
      '',
      signature,
    ].join('\n'),
  }),
}

const orderConfirmation: Template<typeof OrderConfirmationData> = {
  schema: OrderConfirmationData,
  render: ({ name, orderId, totalCents, currency, items = [] }) => ({
    subject: `Order ${orderId} confirmed`,
    text: [
      hello(name),
      '',
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
  'verify-email': verifyEmail,
  'reset-password': resetPassword,
  'confirm-email-change': confirmEmailChange,
  'email-change-requested': emailChangeRequested,
  'email-change-refused': emailChangeRefused,
} as const

export type TemplateName = keyof typeof templates
export const TEMPLATE_NAMES = Object.keys(templates) as TemplateName[]
/** The data each template takes. */
export type TemplateData = { [K in TemplateName]: Static<(typeof templates)[K]['schema']> }

// C0 and C1 controls (line breaks and tabs included: a name is one line), DEL, the Unicode line and
// paragraph separators and the bidirectional overrides that make text read differently than it is.
const CONTROL = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu

/** The data with every string stripped of control characters, before it reaches an email. */
export function withoutControlCharacters<T>(data: T): T {
  if (typeof data === 'string') return data.replace(CONTROL, '') as T
  if (Array.isArray(data)) return data.map(withoutControlCharacters) as T
  if (data && typeof data === 'object') {
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, withoutControlCharacters(v)])) as T
  }
  return data
}
