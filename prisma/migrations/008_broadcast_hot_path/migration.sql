-- Migration: 008_broadcast_hot_path
-- Description: the broadcast hot path under concurrent load: sharded campaign counters
-- (webhooks no longer serialize on the campaign row), the sender's queue column (claims
-- with a timeout), room for HOT updates on messages, NOT NULL target tags on campaigns.
-- Its index changes on messages and subscribers (big tables) are 009's: they are built
-- CONCURRENTLY, outside a transaction, so that webhooks and imports keep writing.
-- Hand-written parts (the rest matches prisma/schema.prisma): the counter shards' trigger
-- and fold function, fillfactors.

SET lock_timeout = '5s';

----------------------------------------------------------------------------------
-- campaigns.target_tags: never NULL (`tags && $1` must mean what it says; subscribers.tags
-- gets the same rule in 009, without a long lock on a big table)
----------------------------------------------------------------------------------

UPDATE campaigns SET target_tags = '{}' WHERE target_tags IS NULL;
ALTER TABLE campaigns ALTER COLUMN target_tags SET NOT NULL;

----------------------------------------------------------------------------------
-- messages
----------------------------------------------------------------------------------

-- The sender's queue: a claim sets claimed_at; a claim older than the sender's timeout
-- can be taken again (the sender died). Kept after the send (when it was last claimed):
-- clearing it would cost every send an extra index change for no reader.
ALTER TABLE messages ADD COLUMN claimed_at TIMESTAMPTZ(3);
-- Room on each page for the updated row versions of webhooks (HOT needs the same page).
ALTER TABLE messages SET (fillfactor = 85);

----------------------------------------------------------------------------------
-- campaign counters: sharded
----------------------------------------------------------------------------------

-- campaigns.total_recipients, sent_count, ... hold the counts as of the last fold;
-- campaign_counter_shards hold what changed since, one row per (campaign, shard) with
-- shard = the writing session's pid mod 16. Webhooks of one campaign from different
-- sessions update different rows: they no longer queue on one row lock, nor rewrite the
-- campaign row (and fire its updated_at trigger). Exact at every commit: the counts are
-- campaigns.* + sum over the shards, written in the transaction of the message change.
CREATE TABLE campaign_counter_shards (
  campaign_id INTEGER NOT NULL,
  shard       SMALLINT NOT NULL,
  total       INTEGER NOT NULL DEFAULT 0,
  sent        INTEGER NOT NULL DEFAULT 0,
  delivered   INTEGER NOT NULL DEFAULT 0,
  read        INTEGER NOT NULL DEFAULT 0,
  failed      INTEGER NOT NULL DEFAULT 0,
  CONSTRAINT campaign_counter_shards_pkey PRIMARY KEY (campaign_id, shard)
) WITH (fillfactor = 50);
-- CASCADE: the shards are part of the campaign's counters (a campaign with messages
-- cannot be deleted anyway, see messages.campaign_id).
ALTER TABLE campaign_counter_shards ADD CONSTRAINT campaign_counter_shards_campaign_id_fkey
  FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE ON UPDATE CASCADE;

-- Replaces 007's messages_maintain_campaign_stats: same deltas, static SQL (planned once
-- per session, no EXECUTE format), written to the session's shard. Rows are upserted in
-- campaign order, so two sessions sharing a shard lock them in the same order.
CREATE FUNCTION messages_count_campaign_changes() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO campaign_counter_shards AS s (campaign_id, shard, total, sent, delivered, read, failed)
    SELECT campaign_id, pg_backend_pid() % 16, count(*),
           count(*) FILTER (WHERE status IN ('sent', 'delivered', 'read')),
           count(*) FILTER (WHERE status IN ('delivered', 'read')),
           count(*) FILTER (WHERE status = 'read'),
           count(*) FILTER (WHERE status = 'failed')
      FROM new_rows WHERE campaign_id IS NOT NULL
     GROUP BY campaign_id ORDER BY campaign_id
    ON CONFLICT (campaign_id, shard) DO UPDATE
       SET total = s.total + excluded.total, sent = s.sent + excluded.sent, delivered = s.delivered + excluded.delivered,
           read = s.read + excluded.read, failed = s.failed + excluded.failed;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO campaign_counter_shards AS s (campaign_id, shard, total, sent, delivered, read, failed)
    SELECT campaign_id, pg_backend_pid() % 16, -count(*),
           -count(*) FILTER (WHERE status IN ('sent', 'delivered', 'read')),
           -count(*) FILTER (WHERE status IN ('delivered', 'read')),
           -count(*) FILTER (WHERE status = 'read'),
           -count(*) FILTER (WHERE status = 'failed')
      FROM old_rows WHERE campaign_id IS NOT NULL
     GROUP BY campaign_id ORDER BY campaign_id
    ON CONFLICT (campaign_id, shard) DO UPDATE
       SET total = s.total + excluded.total, sent = s.sent + excluded.sent, delivered = s.delivered + excluded.delivered,
           read = s.read + excluded.read, failed = s.failed + excluded.failed;
  ELSIF TG_OP = 'UPDATE' THEN
    -- Old rows count -1, new rows +1: an ignored webhook (or a change of neither status nor
    -- campaign) nets to zero and writes nothing.
    INSERT INTO campaign_counter_shards AS s (campaign_id, shard, total, sent, delivered, read, failed)
    SELECT campaign_id, pg_backend_pid() % 16, total, sent, delivered, read, failed
      FROM (
        SELECT campaign_id, sum(n) AS total,
               coalesce(sum(n) FILTER (WHERE status IN ('sent', 'delivered', 'read')), 0) AS sent,
               coalesce(sum(n) FILTER (WHERE status IN ('delivered', 'read')), 0) AS delivered,
               coalesce(sum(n) FILTER (WHERE status = 'read'), 0) AS read,
               coalesce(sum(n) FILTER (WHERE status = 'failed'), 0) AS failed
          FROM (SELECT campaign_id, status, 1 AS n FROM new_rows
                UNION ALL SELECT campaign_id, status, -1 FROM old_rows) delta
         WHERE campaign_id IS NOT NULL
         GROUP BY campaign_id
      ) d
     WHERE (total, sent, delivered, read, failed) <> (0, 0, 0, 0, 0)
     ORDER BY campaign_id
    ON CONFLICT (campaign_id, shard) DO UPDATE
       SET total = s.total + excluded.total, sent = s.sent + excluded.sent, delivered = s.delivered + excluded.delivered,
           read = s.read + excluded.read, failed = s.failed + excluded.failed;
  ELSE -- TRUNCATE
    DELETE FROM campaign_counter_shards;
    UPDATE campaigns
       SET total_recipients = 0, sent_count = 0, delivered_count = 0, read_count = 0, failed_count = 0
     WHERE (total_recipients, sent_count, delivered_count, read_count, failed_count) <> (0, 0, 0, 0, 0);
  END IF;
  RETURN NULL;
END;
$$;

COMMENT ON FUNCTION messages_count_campaign_changes() IS 'Adds the campaign counter changes of a messages statement to the session''s row in campaign_counter_shards.';

DROP TRIGGER messages_campaign_stats_insert ON messages;
DROP TRIGGER messages_campaign_stats_update ON messages;
DROP TRIGGER messages_campaign_stats_delete ON messages;
DROP TRIGGER messages_campaign_stats_truncate ON messages;
DROP FUNCTION messages_maintain_campaign_stats();

CREATE TRIGGER messages_campaign_counters_insert
  AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_count_campaign_changes();
CREATE TRIGGER messages_campaign_counters_update
  AFTER UPDATE ON messages REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_count_campaign_changes();
CREATE TRIGGER messages_campaign_counters_delete
  AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_count_campaign_changes();
CREATE TRIGGER messages_campaign_counters_truncate
  AFTER TRUNCATE ON messages
  FOR EACH STATEMENT EXECUTE FUNCTION messages_count_campaign_changes();

-- campaign_counters_fold(campaign_id): moves the shards of one campaign (or of all, with
-- NULL) into the campaigns columns.
-- Exactness never depends on it (readers add the shards); it keeps the shard table small
-- and the campaigns columns close to the truth. Waits for open transactions that hold a
-- shard of that campaign. Returns the number of campaigns updated.
CREATE FUNCTION campaign_counters_fold(integer DEFAULT NULL) RETURNS integer
LANGUAGE sql
SET search_path FROM CURRENT
AS $$
  WITH folded AS (
    DELETE FROM campaign_counter_shards WHERE $1 IS NULL OR campaign_id = $1
    RETURNING campaign_id, total, sent, delivered, read, failed
  ), d AS (
    SELECT campaign_id, sum(total) AS total, sum(sent) AS sent, sum(delivered) AS delivered, sum(read) AS read, sum(failed) AS failed
      FROM folded GROUP BY campaign_id
  ), upd AS (
    UPDATE campaigns c
       SET total_recipients = c.total_recipients + d.total, sent_count = c.sent_count + d.sent,
           delivered_count = c.delivered_count + d.delivered, read_count = c.read_count + d.read,
           failed_count = c.failed_count + d.failed
      FROM d
     WHERE c.id = d.campaign_id AND (d.total, d.sent, d.delivered, d.read, d.failed) <> (0, 0, 0, 0, 0)
    RETURNING 1
  )
  SELECT count(*)::int FROM upd
$$;

COMMENT ON FUNCTION campaign_counters_fold(integer) IS 'Folds campaign_counter_shards into the campaigns counter columns (one campaign, or all with NULL).';
