-- Custom migration (drizzle-kit generate --custom): deliveries made before event ids existed get
-- their own id as event id, so the column can become NOT NULL in the next migration.
UPDATE "webhook_deliveries" SET "event_id" = "id" WHERE "event_id" IS NULL;
