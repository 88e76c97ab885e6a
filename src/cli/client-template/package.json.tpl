{
  "name": "@keel/client",
  "version": "__VERSION__",
  "description": "Typed TypeScript client for __TITLE__ (generated from openapi.yaml by `npm run client`)",
  "license": "__LICENSE__",
  "type": "module",
  "exports": "./index.ts",
  "types": "./index.ts",
  "dependencies": {
    "openapi-fetch": "__OPENAPI_FETCH__"
  },
  "peerDependencies": {
    "typescript": ">=5.0"
  }
}
