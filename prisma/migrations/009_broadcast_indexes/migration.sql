-- watify:no-transaction
-- Migration: 009_broadcast_indexes
-- Description: the index changes of the broadcast hot path (008), made without stopping the
-- service: one message per subscriber per campaign (unique), the sender's queue index,
-- status out of the messages indexes (webhooks become HOT updates), one GIN index on
-- subscribers.tags instead of two, and subscribers.tags NOT NULL.
-- Runs outside a transaction (first line), one statement at a time: CREATE/DROP INDEX
-- CONCURRENTLY let webhooks and imports write while the indexes build. Every statement
-- can run again, so after a failure part-way the fix is to run it again from the top
-- (`npm run migrate` drops an index left INVALID by a failed build and rebuilds it).

SET lock_timeout = '5s';

----------------------------------------------------------------------------------
-- subscribers.tags: never NULL (`tags && $1` must mean what it says)
----------------------------------------------------------------------------------

-- SET NOT NULL alone scans the table under a lock that blocks reads and writes. A CHECK
-- added NOT VALID is instant, VALIDATE scans without blocking writes, and SET NOT NULL
-- then trusts the validated CHECK instead of scanning; the CHECK is dropped after.
UPDATE subscribers SET tags = '{}' WHERE tags IS NULL;
ALTER TABLE subscribers DROP CONSTRAINT IF EXISTS subscribers_tags_not_null;
ALTER TABLE subscribers ADD CONSTRAINT subscribers_tags_not_null CHECK (tags IS NOT NULL) NOT VALID;
ALTER TABLE subscribers VALIDATE CONSTRAINT subscribers_tags_not_null;
ALTER TABLE subscribers ALTER COLUMN tags SET NOT NULL;
ALTER TABLE subscribers DROP CONSTRAINT IF EXISTS subscribers_tags_not_null;

-- The audience and fan-out queries use the partial GIN index on opted-in rows (007); no
-- query of the project uses the full one, and every import paid for maintaining both.
DROP INDEX CONCURRENTLY IF EXISTS subscribers_tags_idx;

----------------------------------------------------------------------------------
-- messages
----------------------------------------------------------------------------------

-- One message per subscriber per campaign: a retried or concurrent fan-out cannot
-- double-send (it inserts ON CONFLICT DO NOTHING). Also serves "messages of a campaign"
-- and the campaign-delete RESTRICT check. It replaces (campaign_id, status), dropped only
-- once it is built: with status out of every index, a delivery webhook (sent -> delivered
-- -> read) can be a HOT update. A build that finds two messages of one subscriber in one
-- campaign fails and names them: decide which to keep, delete the other, run it again.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS messages_campaign_id_subscriber_id_key ON messages (campaign_id, subscriber_id);
DROP INDEX CONCURRENTLY IF EXISTS messages_campaign_id_status_idx;

-- The sender's queue: queued messages, never claimed first, then by claim age. The
-- predicate names only columns a webhook does not change once the message is sent
-- (whatsapp_message_id is set by the send, failed_at only on failure; with the CHECKs of
-- 007 the two mean "queued"), so it does not stop sent -> delivered -> read from being HOT
-- updates.
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_queue_idx ON messages (claimed_at NULLS FIRST, id)
  WHERE whatsapp_message_id IS NULL AND failed_at IS NULL;
