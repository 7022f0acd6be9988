-- watify:no-transaction
-- Migration: 010_partition_messages
-- Description: messages becomes a table partitioned by RANGE (id), online: the existing table
-- is attached as its first partition (no copy), after a NOT VALID CHECK on its id range is
-- validated without blocking writes; the switch itself is catalog work under a lock held
-- for milliseconds. Why id and not created_at, and the figures: docs/partitioning.md.
-- The two unique rules a partitioned unique index cannot carry (it must include id) move to
-- small unpartitioned tables kept by triggers: message_whatsapp_ids (one message per
-- WhatsApp id; also the webhook's point lookup) and campaign_recipients (one message per
-- campaign and subscriber). The partitioned indexes messages_whatsapp_message_id_key and
-- messages_campaign_id_subscriber_id_key keep their names; the engine stand-in shows them
-- to Prisma as the unique indexes they stand for (src/engine/partitions.ts).
-- Runs outside a transaction, one statement at a time: every statement can run again, so
-- after a failure part-way the fix is to run it again from the top. The command's
-- --lock-timeout bounds every lock it waits for (npm run migrate, npx prisma migrate deploy).

----------------------------------------------------------------------------------
-- the unique rules, kept in lookup tables
----------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS message_whatsapp_ids (
  whatsapp_message_id VARCHAR(128) NOT NULL,
  message_id          BIGINT NOT NULL,
  CONSTRAINT message_whatsapp_ids_pkey PRIMARY KEY (whatsapp_message_id)
);
COMMENT ON TABLE message_whatsapp_ids IS 'watify:internal One row per WhatsApp id of messages (kept by triggers): the rule that a WhatsApp id maps to at most one message, and the webhooks'' point lookup.';

CREATE TABLE IF NOT EXISTS campaign_recipients (
  campaign_id   INTEGER NOT NULL,
  subscriber_id INTEGER NOT NULL,
  message_id    BIGINT NOT NULL,
  CONSTRAINT campaign_recipients_pkey PRIMARY KEY (campaign_id, subscriber_id)
);
COMMENT ON TABLE campaign_recipients IS 'watify:internal One row per (campaign, subscriber) of messages (kept by triggers): one message per subscriber per campaign.';

-- Statement-level on INSERT (a fan-out inserts many rows at once). ON CONFLICT DO NOTHING
-- then a check, instead of a plain INSERT: the fan-out claims its (campaign, subscriber)
-- rows itself before inserting the messages (src/api/campaigns.ts), and the row then
-- already holds this message's id. A concurrent insert of the same key waits in ON CONFLICT
-- for the first transaction, then sees its row (new snapshot per statement) and fails.
-- The error names the unique index Prisma knows, so Prisma reports P2002 as before.
CREATE OR REPLACE FUNCTION messages_claim_unique_keys() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  dup record;
BEGIN
  INSERT INTO message_whatsapp_ids (whatsapp_message_id, message_id)
  SELECT whatsapp_message_id, id FROM new_rows WHERE whatsapp_message_id IS NOT NULL ORDER BY whatsapp_message_id
  ON CONFLICT DO NOTHING;
  SELECT n.whatsapp_message_id AS k INTO dup
    FROM new_rows n JOIN message_whatsapp_ids w ON w.whatsapp_message_id = n.whatsapp_message_id
   WHERE w.message_id <> n.id LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'duplicate key value violates unique constraint "messages_whatsapp_message_id_key"'
      USING ERRCODE = 'unique_violation', CONSTRAINT = 'messages_whatsapp_message_id_key', TABLE = 'messages',
            DETAIL = format('Key (whatsapp_message_id)=(%s) already exists.', dup.k);
  END IF;
  INSERT INTO campaign_recipients (campaign_id, subscriber_id, message_id)
  SELECT campaign_id, subscriber_id, id FROM new_rows WHERE campaign_id IS NOT NULL AND subscriber_id IS NOT NULL ORDER BY campaign_id, subscriber_id
  ON CONFLICT DO NOTHING;
  SELECT n.campaign_id AS c, n.subscriber_id AS s INTO dup
    FROM new_rows n JOIN campaign_recipients r ON r.campaign_id = n.campaign_id AND r.subscriber_id = n.subscriber_id
   WHERE r.message_id <> n.id LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'duplicate key value violates unique constraint "messages_campaign_id_subscriber_id_key"'
      USING ERRCODE = 'unique_violation', CONSTRAINT = 'messages_campaign_id_subscriber_id_key', TABLE = 'messages',
            DETAIL = format('Key (campaign_id, subscriber_id)=(%s, %s) already exists.', dup.c, dup.s);
  END IF;
  RETURN NULL;
END;
$$;

-- Row-level, and only when a key column is in the UPDATE's SET list and changed: delivery
-- webhooks (status and timestamps) never fire it. markMessageSent (NULL -> wamid) and the
-- subscriber-delete SET NULL do.
CREATE OR REPLACE FUNCTION messages_move_unique_keys() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  IF NEW.whatsapp_message_id IS DISTINCT FROM OLD.whatsapp_message_id THEN
    DELETE FROM message_whatsapp_ids WHERE whatsapp_message_id = OLD.whatsapp_message_id AND message_id = OLD.id;
    IF NEW.whatsapp_message_id IS NOT NULL THEN
      INSERT INTO message_whatsapp_ids (whatsapp_message_id, message_id) VALUES (NEW.whatsapp_message_id, NEW.id)
      ON CONFLICT DO NOTHING;
      PERFORM 1 FROM message_whatsapp_ids WHERE whatsapp_message_id = NEW.whatsapp_message_id AND message_id <> NEW.id;
      IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "messages_whatsapp_message_id_key"'
          USING ERRCODE = 'unique_violation', CONSTRAINT = 'messages_whatsapp_message_id_key', TABLE = 'messages',
                DETAIL = format('Key (whatsapp_message_id)=(%s) already exists.', NEW.whatsapp_message_id);
      END IF;
    END IF;
  END IF;
  IF (NEW.campaign_id, NEW.subscriber_id) IS DISTINCT FROM (OLD.campaign_id, OLD.subscriber_id) THEN
    DELETE FROM campaign_recipients WHERE campaign_id = OLD.campaign_id AND subscriber_id = OLD.subscriber_id AND message_id = OLD.id;
    IF NEW.campaign_id IS NOT NULL AND NEW.subscriber_id IS NOT NULL THEN
      INSERT INTO campaign_recipients (campaign_id, subscriber_id, message_id) VALUES (NEW.campaign_id, NEW.subscriber_id, NEW.id)
      ON CONFLICT DO NOTHING;
      PERFORM 1 FROM campaign_recipients WHERE campaign_id = NEW.campaign_id AND subscriber_id = NEW.subscriber_id AND message_id <> NEW.id;
      IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "messages_campaign_id_subscriber_id_key"'
          USING ERRCODE = 'unique_violation', CONSTRAINT = 'messages_campaign_id_subscriber_id_key', TABLE = 'messages',
                DETAIL = format('Key (campaign_id, subscriber_id)=(%s, %s) already exists.', NEW.campaign_id, NEW.subscriber_id);
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION messages_release_unique_keys() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    TRUNCATE message_whatsapp_ids, campaign_recipients;
    RETURN NULL;
  END IF;
  DELETE FROM message_whatsapp_ids w USING old_rows o WHERE w.whatsapp_message_id = o.whatsapp_message_id AND w.message_id = o.id;
  DELETE FROM campaign_recipients r USING old_rows o WHERE r.campaign_id = o.campaign_id AND r.subscriber_id = o.subscriber_id AND r.message_id = o.id;
  RETURN NULL;
END;
$$;

-- On the table as it is now (before the switch) so that rows written while the backfill
-- runs are kept too; the switch moves them to the partitioned table.
DROP TRIGGER IF EXISTS messages_unique_keys_insert ON messages;
CREATE TRIGGER messages_unique_keys_insert
  AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_claim_unique_keys();
DROP TRIGGER IF EXISTS messages_unique_keys_update ON messages;
CREATE TRIGGER messages_unique_keys_update
  AFTER UPDATE OF whatsapp_message_id, campaign_id, subscriber_id ON messages
  FOR EACH ROW EXECUTE FUNCTION messages_move_unique_keys();
DROP TRIGGER IF EXISTS messages_unique_keys_delete ON messages;
CREATE TRIGGER messages_unique_keys_delete
  AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_release_unique_keys();
DROP TRIGGER IF EXISTS messages_unique_keys_truncate ON messages;
CREATE TRIGGER messages_unique_keys_truncate
  AFTER TRUNCATE ON messages
  FOR EACH STATEMENT EXECUTE FUNCTION messages_release_unique_keys();

-- Backfill (row locks on the new tables only; webhooks keep writing messages).
INSERT INTO message_whatsapp_ids (whatsapp_message_id, message_id)
SELECT whatsapp_message_id, id FROM messages WHERE whatsapp_message_id IS NOT NULL
ON CONFLICT DO NOTHING;
INSERT INTO campaign_recipients (campaign_id, subscriber_id, message_id)
SELECT campaign_id, subscriber_id, id FROM messages WHERE campaign_id IS NOT NULL AND subscriber_id IS NOT NULL
ON CONFLICT DO NOTHING;

----------------------------------------------------------------------------------
-- the indexes the partitioned table will have, built on the current table first
----------------------------------------------------------------------------------

-- Non-unique twins of the two unique indexes (a partitioned index of messages cannot be
-- unique without id). Built CONCURRENTLY under temporary names; the switch renames them.
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_whatsapp_message_id_p0_idx ON messages (whatsapp_message_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_campaign_id_subscriber_id_p0_idx ON messages (campaign_id, subscriber_id);

----------------------------------------------------------------------------------
-- the first partition's range, proven without blocking writes
----------------------------------------------------------------------------------

-- Bound: the next multiple of a million above the sequence, plus a million of headroom for
-- the rows written until the switch. ATTACH trusts a validated CHECK that implies the
-- partition constraint instead of scanning under its lock.
DO $$
DECLARE
  bound bigint;
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'messages'::regclass) = 'r'
     AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'messages'::regclass AND conname = 'messages_first_partition_check') THEN
    SELECT (greatest(s.last_value, (SELECT coalesce(max(id), 0) FROM messages)) / 1000000 + 2) * 1000000 INTO bound FROM messages_id_seq s;
    EXECUTE format('ALTER TABLE messages ADD CONSTRAINT messages_first_partition_check CHECK (id IS NOT NULL AND id < %s) NOT VALID', bound);
  END IF;
END
$$;
DO $$
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'messages'::regclass) = 'r' THEN
    ALTER TABLE messages VALIDATE CONSTRAINT messages_first_partition_check;
  END IF;
END
$$;

----------------------------------------------------------------------------------
-- the switch: one statement, so all of it or nothing; catalog work only
----------------------------------------------------------------------------------

DO $$
DECLARE
  bound bigint;
  t text;
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'messages'::regclass) = 'p' THEN
    RETURN;
  END IF;
  LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;
  SELECT substring(pg_get_constraintdef(oid) FROM 'id < ''?([0-9]+)')::bigint INTO bound
    FROM pg_constraint WHERE conrelid = 'messages'::regclass AND conname = 'messages_first_partition_check';

  ALTER TABLE messages RENAME TO messages_p0;
  -- Index names are the schema's: the partitioned table takes the known names.
  ALTER INDEX messages_pkey RENAME TO messages_p0_pkey;
  ALTER INDEX messages_subscriber_id_created_at_id_idx RENAME TO messages_p0_subscriber_id_created_at_id_idx;
  ALTER INDEX messages_group_id_created_at_id_idx RENAME TO messages_p0_group_id_created_at_id_idx;
  ALTER INDEX messages_sender_user_id_idx RENAME TO messages_p0_sender_user_id_idx;
  ALTER INDEX messages_queue_idx RENAME TO messages_p0_queue_idx;
  ALTER INDEX messages_whatsapp_message_id_key RENAME TO messages_p0_whatsapp_message_id_unique;
  ALTER INDEX messages_campaign_id_subscriber_id_key RENAME TO messages_p0_campaign_id_subscriber_id_unique;
  ALTER INDEX messages_whatsapp_message_id_p0_idx RENAME TO messages_p0_whatsapp_message_id_idx;
  ALTER INDEX messages_campaign_id_subscriber_id_p0_idx RENAME TO messages_p0_campaign_id_subscriber_id_idx;
  -- Triggers move to the partitioned table (row-level ones are cloned to every partition).
  FOREACH t IN ARRAY ARRAY['messages_set_updated_at', 'messages_reject_opted_out_broadcasts',
      'messages_campaign_counters_insert', 'messages_campaign_counters_update', 'messages_campaign_counters_delete',
      'messages_campaign_counters_truncate', 'messages_unique_keys_insert', 'messages_unique_keys_update',
      'messages_unique_keys_delete', 'messages_unique_keys_truncate'] LOOP
    EXECUTE format('DROP TRIGGER %I ON messages_p0', t);
  END LOOP;

  -- Same columns in the same order, defaults (the id sequence), CHECK constraints.
  CREATE TABLE messages (LIKE messages_p0 INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (id);
  ALTER TABLE messages DROP CONSTRAINT messages_first_partition_check;
  ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (id);
  ALTER SEQUENCE messages_id_seq OWNED BY messages.id;
  CREATE INDEX messages_subscriber_id_created_at_id_idx ON messages (subscriber_id, created_at DESC, id DESC);
  CREATE INDEX messages_group_id_created_at_id_idx ON messages (group_id, created_at DESC, id DESC);
  CREATE INDEX messages_sender_user_id_idx ON messages (sender_user_id) WHERE sender_user_id IS NOT NULL;
  CREATE INDEX messages_queue_idx ON messages (claimed_at NULLS FIRST, id) WHERE whatsapp_message_id IS NULL AND failed_at IS NULL;
  CREATE INDEX messages_whatsapp_message_id_key ON messages (whatsapp_message_id);
  CREATE INDEX messages_campaign_id_subscriber_id_key ON messages (campaign_id, subscriber_id);
  ALTER TABLE messages ADD CONSTRAINT messages_subscriber_id_fkey FOREIGN KEY (subscriber_id) REFERENCES subscribers (id) ON DELETE SET NULL ON UPDATE CASCADE;
  ALTER TABLE messages ADD CONSTRAINT messages_group_id_fkey FOREIGN KEY (group_id) REFERENCES whatsapp_groups (id) ON DELETE SET NULL ON UPDATE CASCADE;
  ALTER TABLE messages ADD CONSTRAINT messages_sender_user_id_fkey FOREIGN KEY (sender_user_id) REFERENCES users (id) ON DELETE SET NULL ON UPDATE CASCADE;
  ALTER TABLE messages ADD CONSTRAINT messages_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE RESTRICT ON UPDATE CASCADE;

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
  CREATE TRIGGER messages_unique_keys_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_claim_unique_keys();
  CREATE TRIGGER messages_unique_keys_update AFTER UPDATE OF whatsapp_message_id, campaign_id, subscriber_id ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_move_unique_keys();
  CREATE TRIGGER messages_unique_keys_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_release_unique_keys();
  CREATE TRIGGER messages_unique_keys_truncate AFTER TRUNCATE ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION messages_release_unique_keys();

  -- No scan: the validated CHECK proves the range. The indexes built above are attached
  -- to the partitioned ones (same definitions), the foreign keys likewise.
  EXECUTE format('ALTER TABLE messages ATTACH PARTITION messages_p0 FOR VALUES FROM (MINVALUE) TO (%s)', bound);
  ALTER TABLE messages_p0 DROP CONSTRAINT messages_first_partition_check;
END
$$;

-- The old unique indexes of the first partition: their rules are the lookup tables' now.
DROP INDEX CONCURRENTLY IF EXISTS messages_p0_whatsapp_message_id_unique;
DROP INDEX CONCURRENTLY IF EXISTS messages_p0_campaign_id_subscriber_id_unique;

----------------------------------------------------------------------------------
-- partitions ahead of the id sequence
----------------------------------------------------------------------------------

-- messages_create_partitions(ahead, width): makes sure `ahead` partitions exist entirely
-- above the id sequence's current value, each `width` ids wide (default: the width of the
-- newest partition, else 1,000,000). Idempotent; concurrent calls queue on an advisory
-- lock. A new partition is created as a table and ATTACHed (SHARE UPDATE EXCLUSIVE on
-- messages: reads and writes go on) rather than CREATE TABLE ... PARTITION OF (ACCESS
-- EXCLUSIVE). There is no default partition: a row beyond the last partition fails
-- loudly (`npm run messages:partitions` is the fix) instead of landing somewhere retention
-- and pruning cannot see. Returns the partitions it created.
CREATE OR REPLACE FUNCTION messages_create_partitions(ahead integer, width bigint DEFAULT NULL)
RETURNS TABLE (partition_name text, from_id bigint, to_id bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  w bigint;
  top bigint;
  cur bigint;
  have integer;
  part text;
BEGIN
  IF ahead IS NULL OR ahead < 0 THEN
    RAISE EXCEPTION 'ahead must be 0 or more, got %', ahead USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF width IS NOT NULL AND width < 1000 THEN
    RAISE EXCEPTION 'width must be at least 1000 ids, got %', width USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('watify:messages_create_partitions'));
  SELECT last_value INTO cur FROM messages_id_seq;
  SELECT max(b.hi), (array_agg(b.hi - b.lo ORDER BY b.hi DESC) FILTER (WHERE b.lo IS NOT NULL))[1],
         count(*) FILTER (WHERE b.lo > cur)
    INTO top, w, have
    FROM (SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''?(-?[0-9]+)')::bigint AS lo,
                 substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''?(-?[0-9]+)')::bigint AS hi
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'messages'::regclass) b;
  IF top IS NULL THEN
    RAISE EXCEPTION 'messages has no partition to continue from' USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  w := coalesce(width, w, 1000000);
  WHILE have < ahead LOOP
    part := 'messages_p' || top;
    EXECUTE format('CREATE TABLE %I (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = 85)', part);
    EXECUTE format('ALTER TABLE messages ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', part, top, top + w);
    partition_name := part; from_id := top; to_id := top + w;
    RETURN NEXT;
    top := top + w;
    IF top - w > cur THEN have := have + 1; END IF;
  END LOOP;
END;
$$;

COMMENT ON FUNCTION messages_create_partitions(integer, bigint) IS 'Creates partitions of messages until `ahead` lie entirely above the id sequence (npm run messages:partitions).';

SELECT * FROM messages_create_partitions(2);

-- Read by the engine stand-in (src/engine/partitions.ts): Prisma sees these two as the
-- unique indexes schema.prisma declares (@@unique), which their lookup tables enforce.
COMMENT ON INDEX messages_whatsapp_message_id_key IS 'watify:unique One message per WhatsApp id: enforced by message_whatsapp_ids (010).';
COMMENT ON INDEX messages_campaign_id_subscriber_id_key IS 'watify:unique One message per subscriber per campaign: enforced by campaign_recipients (010).';
