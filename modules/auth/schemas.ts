// Auth: request and response shapes (TypeBox, named by $id so OpenAPI shows them as components)
// and the types derived from them. Accounts are the users module's `User`.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { Id, Int, Nullable, Ref, SafeString, Timestamp } from '../../src/lib/schemas.js'
import { AcceptedResponse, AcceptedSchema, EmailSchema, NameSchema, PasswordSchema, UserResponse, UserSchema } from '../users/contract.js'

const RefreshToken = SafeString({
  minLength: 1,
  maxLength: 256,
  description: 'From login or the previous refresh; each one works once',
  examples: ['3q2-7wEjZ9mW0Zb4oX1n8yYtJ0m3Vv2s5QdXrRk0AbC'],
})

export const RegisterBody = Type.Object(
  { email: EmailSchema, password: PasswordSchema, name: Type.Optional(NameSchema) },
  {
    $id: 'RegisterRequest',
    additionalProperties: false,
    description: 'New accounts always get the `user` role; other properties (such as role) are refused',
    examples: [{ email: 'ada@example.com', password: 'Correct-Horse-9-Battery', name: 'Ada Lovelace' }],
  },
)
export type RegisterInput = Static<typeof RegisterBody>

export const LoginBody = Type.Object(
  { email: SafeString({ minLength: 1, maxLength: 254, examples: ['ada@example.com'] }), password: PasswordSchema },
  {
    $id: 'LoginRequest',
    additionalProperties: false,
    description: 'Email (any case) and password',
    examples: [{ email: 'ada@example.com', password: 'Correct-Horse-9-Battery' }],
  },
)
export type LoginInput = Static<typeof LoginBody>

export const RefreshBody = Type.Object(
  { refreshToken: RefreshToken },
  {
    $id: 'RefreshRequest',
    additionalProperties: false,
    description: 'The refresh token to spend',
    examples: [{ refreshToken: '3q2-7wEjZ9mW0Zb4oX1n8yYtJ0m3Vv2s5QdXrRk0AbC' }],
  },
)

const EmailedToken = SafeString({
  minLength: 1,
  maxLength: 128,
  description: 'The `token` of the link that was emailed (single use)',
  examples: ['kq3X0v9Jd1m8W2bT7yL5cR4nE6sA0pZ-uH1gF3iK9oM'],
})

export const EmailTokenBody = Type.Object(
  { token: EmailedToken },
  {
    $id: 'EmailTokenRequest',
    additionalProperties: false,
    description: 'The token of an emailed link',
    examples: [{ token: 'kq3X0v9Jd1m8W2bT7yL5cR4nE6sA0pZ-uH1gF3iK9oM' }],
  },
)

export const ForgotPasswordBody = Type.Object(
  {
    email: SafeString({
      minLength: 1,
      maxLength: 254,
      description: 'The address of the account (any case)',
      examples: ['ada@example.com'],
    }),
  },
  {
    $id: 'ForgotPasswordRequest',
    additionalProperties: false,
    description: 'Where to send a reset link (if it is the address of an account)',
    examples: [{ email: 'ada@example.com' }],
  },
)

export const ResetPasswordBody = Type.Object(
  { token: EmailedToken, password: PasswordSchema },
  {
    $id: 'ResetPasswordRequest',
    additionalProperties: false,
    description: 'The token of the reset link and the new password (the registration rules apply)',
    examples: [{ token: 'kq3X0v9Jd1m8W2bT7yL5cR4nE6sA0pZ-uH1gF3iK9oM', password: 'Brand-New-Pass-7' }],
  },
)

export const LogoutBody = Type.Object(
  {
    refreshToken: Type.Optional({ ...RefreshToken, description: "Also end this refresh token's session (if it is yours)" }),
    all: Type.Optional(
      Type.Boolean({ description: 'Log out everywhere: every session of the user ends (its access and refresh tokens stop working)' }),
    ),
  },
  {
    $id: 'LogoutRequest',
    additionalProperties: false,
    description: 'Optional: without a body, the session of the access token you send ends',
    examples: [{}, { all: true }],
  },
)
export type LogoutInput = Static<typeof LogoutBody>

const tokensExample = {
  accessToken: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTkzNmI4ZS01YTEwIn0.c2lnbmF0dXJl',
  tokenType: 'Bearer',
  expiresIn: 900,
  refreshToken: '3q2-7wEjZ9mW0Zb4oX1n8yYtJ0m3Vv2s5QdXrRk0AbC',
  refreshExpiresAt: '2026-12-29T10:15:00.000Z',
  sessionId: '01936b8e-9d40-7a1b-8c2d-3e4f5a6b7c8d',
}

const tokenProperties = {
  accessToken: Type.String({ description: 'JWT (HS256) naming its session (`sid`); send as `Authorization: Bearer <token>`' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Int({ description: 'Access token lifetime in seconds' }),
  refreshToken: Type.String({ description: 'Opaque; exchange at POST /auth/refresh. Single use.' }),
  refreshExpiresAt: Timestamp('When this refresh token expires'),
  sessionId: Id('The session these tokens belong to; logout ends it'),
}

export const TokensSchema = Type.Object(tokenProperties, {
  $id: 'Tokens',
  description: 'A new access token and the next refresh token of the session',
  examples: [tokensExample],
})
export type Tokens = Static<typeof TokensSchema>

export const LoginResultSchema = Type.Object(
  { ...tokenProperties, user: Ref(UserSchema) },
  { $id: 'LoginResult', description: 'The tokens of a new session, and the account' },
)
export type LoginResult = Static<typeof LoginResultSchema>

export const MeSchema = Type.Object(
  {
    ...UserSchema.properties,
    permissions: Type.Array(Type.String(), {
      description: 'What this caller may do (narrowed by the API key scopes when using a key)',
      examples: [['read', 'write']],
    }),
    apiKeyId: Nullable(Id('Set when authenticated with an API key')),
    sessionId: Nullable(Id('Set when authenticated with a bearer access token: its session')),
  },
  { $id: 'Me', description: 'The caller: its account, effective permissions and credential' },
)
export type Me = Static<typeof MeSchema>

export const SessionSchema = Type.Object(
  {
    id: Id('The session (`sessionId` of login, `sid` of its access tokens)'),
    createdAt: Timestamp('When it was opened (the login)'),
    lastUsedAt: Timestamp('Its last use: a login, a refresh or a request (recorded at most once per SESSION_LAST_USED_INTERVAL_SECONDS)'),
    expiresAt: Timestamp('When it ends unless refreshed (its newest refresh token expires)'),
    clientAddress: Nullable(Type.String({ description: 'The client address of its last login or refresh', examples: ['203.0.113.7'] })),
    userAgent: Nullable(
      Type.String({
        description: 'The User-Agent of its last login or refresh (at most 512 characters)',
        examples: ['Mozilla/5.0 (X11; Linux x86_64)'],
      }),
    ),
    current: Type.Boolean({ description: 'True for the session of the access token you sent' }),
  },
  {
    $id: 'Session',
    description: 'A live session of your account',
    examples: [
      {
        id: '01936b8e-9d40-7a1b-8c2d-3e4f5a6b7c8d',
        createdAt: '2026-11-29T10:15:00.000Z',
        lastUsedAt: '2026-11-29T12:40:07.120Z',
        expiresAt: '2026-12-29T12:40:07.120Z',
        clientAddress: '203.0.113.7',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
        current: true,
      },
    ],
  },
)
export type Session = Static<typeof SessionSchema>

export const SessionListResponse = Type.Object(
  { success: Type.Literal(true), data: Type.Array(Ref(SessionSchema), { maxItems: 100 }) },
  { $id: 'SessionList', description: 'Your live sessions, the most recently used first (at most 100)' },
)

export const SessionParams = Type.Object({ id: Id('Session id') })

export const { response: TokensResponse } = envelopes(TokensSchema)
export const { response: LoginResultResponse } = envelopes(LoginResultSchema)
export const { response: MeResponse } = envelopes(MeSchema)

/** Registered (addSchema) by the module plugin, with the users module's `User`, so routes can Ref() them. */
export const authSchemas = [
  UserSchema,
  UserResponse,
  AcceptedSchema,
  AcceptedResponse,
  EmailTokenBody,
  ForgotPasswordBody,
  ResetPasswordBody,
  RegisterBody,
  LoginBody,
  RefreshBody,
  LogoutBody,
  TokensSchema,
  LoginResultSchema,
  MeSchema,
  TokensResponse,
  LoginResultResponse,
  MeResponse,
  SessionSchema,
  SessionListResponse,
]
