// ESLint (flat config) with typescript-eslint's recommended, type-aware rules.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['.dependency-cruiser.cjs', 'dist/', 'node_modules/', '.data/', '.tap/', 'coverage/', 'drizzle/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['log', 'error', 'warn'] }],
    },
  },
  {
    // Only the config module reads the environment.
    files: ['plugins/**/*.ts', 'modules/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration from fastify.config.' }],
    },
  },
)
