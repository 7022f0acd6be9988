-- Rollback: 009_broadcast_indexes
-- Returns the indexes to their state after 008. Runs in the rollback's one transaction
-- (like every down.sql without the no-transaction line), so a rollback of several
-- migrations stays all-or-nothing; the cost is that the two indexes it builds block
-- writes to messages and subscribers while they build (about 2 s per million rows each on
-- a 2-core machine). No data is lost: the unique rule and the NOT NULL only go away.

DROP INDEX messages_queue_idx;
CREATE INDEX "messages_campaign_id_status_idx" ON "messages"("campaign_id", "status");
DROP INDEX messages_campaign_id_subscriber_id_key;

CREATE INDEX "subscribers_tags_idx" ON "subscribers" USING GIN ("tags");
ALTER TABLE subscribers ALTER COLUMN tags DROP NOT NULL;
