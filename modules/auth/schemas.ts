// Request and response shapes of the auth module.
import { Type, type Static } from '@sinclair/typebox'
import { EmailSchema, NameSchema, PasswordSchema, UserSchema } from '../users/contract.js'

export const RegisterBody = Type.Object(
  { email: EmailSchema, password: PasswordSchema, name: Type.Optional(NameSchema) },
  { additionalProperties: false, description: 'New accounts always get the `user` role; other properties (such as role) are refused' },
)
export type RegisterInput = Static<typeof RegisterBody>

export const LoginBody = Type.Object(
  { email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
)
export type LoginInput = Static<typeof LoginBody>

export const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 256, description: 'From login or the previous refresh; each one works once' }) },
  { additionalProperties: false },
)

export const LogoutBody = Type.Object(
  {
    refreshToken: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Revoke this session (its whole refresh family)' }),
    ),
    all: Type.Optional(Type.Boolean({ description: 'Sign out everywhere: every access and refresh token of the user stops working' })),
  },
  { additionalProperties: false },
)
export type LogoutInput = Static<typeof LogoutBody>

export const TokensSchema = Type.Object({
  accessToken: Type.String({ description: 'JWT (HS256); send as `Authorization: Bearer <token>`' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Access token lifetime in seconds' }),
  refreshToken: Type.String({ description: 'Opaque; exchange at POST /auth/refresh. Single use.' }),
  refreshExpiresAt: Type.String({ format: 'date-time' }),
})
export type Tokens = Static<typeof TokensSchema>

export const LoginResultSchema = Type.Intersect([TokensSchema, Type.Object({ user: UserSchema })])

export const MeSchema = Type.Intersect([
  UserSchema,
  Type.Object({
    permissions: Type.Array(Type.String(), { description: 'What this caller may do (narrowed by the API key scopes when using a key)' }),
    apiKeyId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], { description: 'Set when authenticated with an API key' }),
  }),
])
