-- Custom migration (drizzle-kit generate --custom): trigram matching, for the products `q` search
-- (ILIKE '%...%' served by a GIN index instead of a sequential scan). pg_trgm is a trusted extension
-- (PostgreSQL 13+): a database owner may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
