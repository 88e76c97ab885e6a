# __name__

Scaffolded by `npm run new:module -- __name__`: a resource owned by the user who creates it. Say here
what it is for.

| endpoint | who | |
|---|---|---|
| `GET /api/v1/__name__` | `read` | your own (moderators and admins: everybody's, filter `ownerId`); filter `q`; sort `createdAt`, `name`; offset pages with `meta.total` (cached per filter set). |
| `GET /api/v1/__name__/:id` | owner, moderator, admin | `ETag`; anybody else gets 404. |
| `POST /api/v1/__name__` | `write` | 201 + `Location` + `ETag`; you are the owner. |
| `PATCH /api/v1/__name__/:id` | owner, moderator, admin | only the fields sent; `If-Match` → 412 when stale. |
| `DELETE /api/v1/__name__/:id` | owner, moderator, admin | 204. |

Events (published in the transaction of the change; audience: the owner, moderators and admins):
`__item__.created`, `__item__.updated`, `__item__.deleted`.
