-- Rollback: 010_partition_messages
-- messages becomes one plain table again, keeping every row: every partition is detached,
-- the rows of the later partitions are moved into the first one (the original table), the
-- first one takes back the name, indexes, triggers and unique indexes of 009. Runs in the
-- rollback's one transaction; the moved rows and the two unique indexes are written under
-- the lock (about 2 s per million rows each), the first partition's rows are not copied.

-- No SET lock_timeout here: the rollback's own (--lock-timeout) applies to the LOCK below.
LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;

DO $$
DECLARE
  p record;
BEGIN
  -- The sequence is owned by the partitioned table; it must outlive it.
  ALTER SEQUENCE messages_id_seq OWNED BY NONE;
  FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'messages'::regclass ORDER BY c.relname LOOP
    EXECUTE format('ALTER TABLE messages DETACH PARTITION %I', p.relname);
  END LOOP;
  FOR p IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname ~ '^messages_p[0-9]+$' AND c.relname <> 'messages_p0'
            ORDER BY c.relname LOOP
    EXECUTE format('INSERT INTO messages_p0 SELECT * FROM %I', p.relname);
    EXECUTE format('DROP TABLE %I', p.relname);
  END LOOP;
END
$$;

DROP TABLE messages;
ALTER TABLE messages_p0 RENAME TO messages;
ALTER SEQUENCE messages_id_seq OWNED BY messages.id;

ALTER INDEX messages_p0_pkey RENAME TO messages_pkey;
ALTER INDEX messages_p0_subscriber_id_created_at_id_idx RENAME TO messages_subscriber_id_created_at_id_idx;
ALTER INDEX messages_p0_group_id_created_at_id_idx RENAME TO messages_group_id_created_at_id_idx;
ALTER INDEX messages_p0_sender_user_id_idx RENAME TO messages_sender_user_id_idx;
ALTER INDEX messages_p0_queue_idx RENAME TO messages_queue_idx;
DROP INDEX messages_p0_whatsapp_message_id_idx;
DROP INDEX messages_p0_campaign_id_subscriber_id_idx;
CREATE UNIQUE INDEX messages_whatsapp_message_id_key ON messages (whatsapp_message_id);
CREATE UNIQUE INDEX messages_campaign_id_subscriber_id_key ON messages (campaign_id, subscriber_id);

-- A detached partition keeps no trigger of its parent.
DROP TRIGGER IF EXISTS messages_set_updated_at ON messages;
DROP TRIGGER IF EXISTS messages_unique_keys_update ON messages;
CREATE TRIGGER messages_set_updated_at BEFORE UPDATE ON messages
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER messages_reject_opted_out_broadcasts AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_reject_opted_out_broadcasts();
CREATE TRIGGER messages_campaign_counters_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_count_campaign_changes();
CREATE TRIGGER messages_campaign_counters_update AFTER UPDATE ON messages REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_count_campaign_changes();
CREATE TRIGGER messages_campaign_counters_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_count_campaign_changes();
CREATE TRIGGER messages_campaign_counters_truncate AFTER TRUNCATE ON messages
  FOR EACH STATEMENT EXECUTE FUNCTION messages_count_campaign_changes();

DROP FUNCTION messages_create_partitions(integer, bigint);
DROP FUNCTION messages_claim_unique_keys();
DROP FUNCTION messages_move_unique_keys();
DROP FUNCTION messages_release_unique_keys();
-- Derived data: both tables are rebuilt from messages by the migration.
DROP TABLE message_whatsapp_ids;
DROP TABLE campaign_recipients;
