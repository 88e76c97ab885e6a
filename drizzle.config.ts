// drizzle-kit reads every module's tables.ts through a glob: adding a module needs no edit here.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './modules/*/tables.ts',
  out: './drizzle',
  casing: 'snake_case',
})
