# __name__

Scaffolded by `npm run new:module -- __name__`: a CRUD resource owned by the user who creates it.

| method | path | permission |
|---|---|---|
| GET | /api/v1/__name__ | read (filters `ownerId`, `q`; sort `createdAt`, `name`; offset pagination) |
| GET | /api/v1/__name__/:id | read |
| POST | /api/v1/__name__ | write (201 + Location) |
| PATCH | /api/v1/__name__/:id | write; owner, moderator or admin |
| DELETE | /api/v1/__name__/:id | write; owner, moderator or admin (204) |

Events: none yet.
