-- Rollback: 008_broadcast_hot_path
-- Returns the database to its state after 007. Counter shards are folded into the
-- campaigns columns first, so the counters 007 maintains stay exact; the other data
-- (target tag arrays) is kept as it is: claimed_at goes, which only forgets which
-- queued messages a sender holds.

SELECT campaign_counters_fold(NULL);
DROP FUNCTION campaign_counters_fold(integer);

DROP TRIGGER messages_campaign_counters_truncate ON messages;
DROP TRIGGER messages_campaign_counters_delete ON messages;
DROP TRIGGER messages_campaign_counters_update ON messages;
DROP TRIGGER messages_campaign_counters_insert ON messages;
DROP FUNCTION messages_count_campaign_changes();
DROP TABLE campaign_counter_shards;

-- 007's counter trigger, as 007 created it.
CREATE FUNCTION messages_maintain_campaign_stats() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE campaigns
       SET total_recipients = 0, sent_count = 0, delivered_count = 0, read_count = 0, failed_count = 0
     WHERE (total_recipients, sent_count, delivered_count, read_count, failed_count) <> (0, 0, 0, 0, 0);
    RETURN NULL;
  END IF;

  -- The same aggregate for every event; only the source of the +1/-1 rows differs.
  EXECUTE format($sql$
    UPDATE campaigns c
       SET total_recipients = c.total_recipients + d.total,
           sent_count       = c.sent_count + d.sent,
           delivered_count  = c.delivered_count + d.delivered,
           read_count       = c.read_count + d.read,
           failed_count     = c.failed_count + d.failed
      FROM (
        SELECT campaign_id,
               sum(n) AS total,
               coalesce(sum(n) FILTER (WHERE status IN ('sent', 'delivered', 'read')), 0) AS sent,
               coalesce(sum(n) FILTER (WHERE status IN ('delivered', 'read')), 0) AS delivered,
               coalesce(sum(n) FILTER (WHERE status = 'read'), 0) AS read,
               coalesce(sum(n) FILTER (WHERE status = 'failed'), 0) AS failed
          FROM (%s) delta
         WHERE campaign_id IS NOT NULL
         GROUP BY campaign_id
      ) d
     WHERE c.id = d.campaign_id
       AND (d.total, d.sent, d.delivered, d.read, d.failed) <> (0, 0, 0, 0, 0)
  $sql$, CASE TG_OP
           WHEN 'INSERT' THEN 'SELECT campaign_id, status, 1 AS n FROM new_rows'
           WHEN 'DELETE' THEN 'SELECT campaign_id, status, -1 AS n FROM old_rows'
           ELSE 'SELECT campaign_id, status, 1 AS n FROM new_rows UNION ALL SELECT campaign_id, status, -1 FROM old_rows'
         END);
  RETURN NULL;
END;
$$;

COMMENT ON FUNCTION messages_maintain_campaign_stats() IS 'Keeps the campaigns performance counters equal to aggregates over their messages.';

CREATE TRIGGER messages_campaign_stats_insert
  AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_maintain_campaign_stats();
CREATE TRIGGER messages_campaign_stats_update
  AFTER UPDATE ON messages REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_maintain_campaign_stats();
CREATE TRIGGER messages_campaign_stats_delete
  AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_maintain_campaign_stats();
CREATE TRIGGER messages_campaign_stats_truncate
  AFTER TRUNCATE ON messages
  FOR EACH STATEMENT EXECUTE FUNCTION messages_maintain_campaign_stats();

ALTER TABLE messages RESET (fillfactor);
-- A sender's claims on queued messages are forgotten (the loss report lists them).
ALTER TABLE messages DROP COLUMN claimed_at;
ALTER TABLE campaigns ALTER COLUMN target_tags DROP NOT NULL;
