ALTER TABLE "email_outbox" ADD COLUMN "event_id" uuid;--> statement-breakpoint
CREATE UNIQUE INDEX "email_outbox_event_id_template_idx" ON "email_outbox" USING btree ("event_id","template");