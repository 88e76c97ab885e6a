// Where resources live on the wire: every module is mounted at /api/v1/<folder>, and a Location
// header (or a link in a body) is built from the route's prefix with resourcePath().
export const API_PREFIX = '/api/v1'

/** The base path of a module: /api/v1/<name>. */
export const modulePath = (name: string): string => `${API_PREFIX}/${name}`

/** `/api/v1/products/<id>` from a module's prefix (`app.prefix` in its plugin) and the path segments below it. */
export const resourcePath = (prefix: string, ...segments: string[]): string =>
  [prefix.replace(/\/+$/, ''), ...segments.map(encodeURIComponent)].join('/')
