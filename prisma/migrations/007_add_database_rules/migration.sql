-- Migration: 007_add_database_rules
-- Description: the rules Prisma's schema language cannot express: CHECK constraints,
-- partial indexes, counters kept by triggers, and the opt-out rule for broadcasts.
-- Hand-written: Prisma Migrate does not model CHECK constraints, partial indexes,
-- triggers or functions (`prisma migrate diff` neither creates nor drops them).
--
-- Trigger functions that touch other tables pin their search_path to the one this
-- migration runs with (SET search_path FROM CURRENT): they then find the tables
-- whatever search_path the calling session has (e.g. a client using ?schema=app).

----------------------------------------------------------------------------------
-- users
----------------------------------------------------------------------------------

-- Case-insensitive uniqueness: emails are stored normalized, so the plain unique
-- index users_email_key (001) is enough and login is `WHERE email = $1`. Chosen over a
-- unique index on lower(email) because Prisma knows the plain index (findUnique and
-- upsert by email work) and nothing outside Prisma's view can drift.
ALTER TABLE users ADD CONSTRAINT users_email_normalized_check
  CHECK (email = lower(btrim(email)));
ALTER TABLE users ADD CONSTRAINT users_email_format_check
  CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$');
-- Only scrypt hashes in src/password.ts's format: a plaintext password cannot be stored by mistake.
ALTER TABLE users ADD CONSTRAINT users_password_hash_format_check
  CHECK (password_hash ~ '^scrypt\$[0-9]+\$[0-9]+\$[0-9]+\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$');
ALTER TABLE users ADD CONSTRAINT users_failed_login_attempts_check
  CHECK (failed_login_attempts >= 0);
-- Tokens are stored as SHA-256 hex digests, each with its expiry, never one without the other.
ALTER TABLE users ADD CONSTRAINT users_email_verification_token_hash_check
  CHECK (email_verification_token_hash ~ '^[0-9a-f]{64}$');
ALTER TABLE users ADD CONSTRAINT users_email_verification_token_expiry_check
  CHECK ((email_verification_token_hash IS NULL) = (email_verification_expires_at IS NULL));
-- A verified address has no pending verification token.
ALTER TABLE users ADD CONSTRAINT users_email_verified_no_token_check
  CHECK (email_verified_at IS NULL OR email_verification_token_hash IS NULL);
ALTER TABLE users ADD CONSTRAINT users_password_reset_token_hash_check
  CHECK (password_reset_token_hash ~ '^[0-9a-f]{64}$');
ALTER TABLE users ADD CONSTRAINT users_password_reset_token_expiry_check
  CHECK ((password_reset_token_hash IS NULL) = (password_reset_expires_at IS NULL));

----------------------------------------------------------------------------------
-- whatsapp_groups, group_members
----------------------------------------------------------------------------------

-- WhatsApp group JIDs: `120363...@g.us`, or `<creator>-<timestamp>@g.us` for older groups.
ALTER TABLE whatsapp_groups ADD CONSTRAINT whatsapp_groups_whatsapp_group_id_check
  CHECK (whatsapp_group_id ~ '^[0-9]+(-[0-9]+)?@g\.us$');
ALTER TABLE whatsapp_groups ADD CONSTRAINT whatsapp_groups_name_check
  CHECK (btrim(name) <> '');
ALTER TABLE whatsapp_groups ADD CONSTRAINT whatsapp_groups_invite_link_check
  CHECK (invite_link ~ '^https://chat\.whatsapp\.com/[A-Za-z0-9]+$');
ALTER TABLE whatsapp_groups ADD CONSTRAINT whatsapp_groups_member_count_check
  CHECK (member_count >= 0);

-- member_count = number of group_members rows. Statement-level with transition tables:
-- adding 100k members in one INSERT updates each group row once, not 100k times.
CREATE FUNCTION group_members_maintain_member_count() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE whatsapp_groups g SET member_count = g.member_count + d.n
    FROM (SELECT group_id, count(*) AS n FROM new_rows GROUP BY group_id) d
    WHERE g.id = d.group_id;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE whatsapp_groups g SET member_count = g.member_count - d.n
    FROM (SELECT group_id, count(*) AS n FROM old_rows GROUP BY group_id) d
    WHERE g.id = d.group_id;
  ELSIF TG_OP = 'UPDATE' THEN
    -- a membership may move to another group
    UPDATE whatsapp_groups g SET member_count = g.member_count + d.n
    FROM (
      SELECT group_id, sum(n) AS n
      FROM (SELECT group_id, 1 AS n FROM new_rows UNION ALL SELECT group_id, -1 FROM old_rows) moved
      GROUP BY group_id
      HAVING sum(n) <> 0
    ) d
    WHERE g.id = d.group_id;
  ELSE -- TRUNCATE
    UPDATE whatsapp_groups SET member_count = 0 WHERE member_count <> 0;
  END IF;
  RETURN NULL;
END;
$$;

COMMENT ON FUNCTION group_members_maintain_member_count() IS 'Keeps whatsapp_groups.member_count equal to the number of group_members rows.';

CREATE TRIGGER group_members_count_insert
  AFTER INSERT ON group_members REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION group_members_maintain_member_count();
CREATE TRIGGER group_members_count_update
  AFTER UPDATE ON group_members REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION group_members_maintain_member_count();
CREATE TRIGGER group_members_count_delete
  AFTER DELETE ON group_members REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION group_members_maintain_member_count();
CREATE TRIGGER group_members_count_truncate
  AFTER TRUNCATE ON group_members
  FOR EACH STATEMENT EXECUTE FUNCTION group_members_maintain_member_count();

-- Bring existing rows in line (the counter was not maintained before this migration).
UPDATE whatsapp_groups g SET member_count = (SELECT count(*) FROM group_members m WHERE m.group_id = g.id)
WHERE member_count <> (SELECT count(*) FROM group_members m WHERE m.group_id = g.id);

----------------------------------------------------------------------------------
-- subscribers
----------------------------------------------------------------------------------

ALTER TABLE subscribers ADD CONSTRAINT subscribers_phone_e164_check
  CHECK (phone ~ '^\+[1-9][0-9]{7,14}$');
-- No NULL or empty tags: `tags && $1` and `tags @> $1` must mean what they say.
ALTER TABLE subscribers ADD CONSTRAINT subscribers_tags_check
  CHECK (array_position(tags, NULL) IS NULL AND NOT ('' = ANY (tags)));
ALTER TABLE subscribers ADD CONSTRAINT subscribers_attributes_check
  CHECK (jsonb_typeof(attributes) = 'object');
-- Consent is recorded with when and how; the current status agrees with the latest event.
ALTER TABLE subscribers ADD CONSTRAINT subscribers_opt_in_recorded_check
  CHECK ((opted_in_at IS NULL) = (opt_in_method IS NULL));
ALTER TABLE subscribers ADD CONSTRAINT subscribers_opt_out_recorded_check
  CHECK ((opted_out_at IS NULL) = (opt_out_method IS NULL));
ALTER TABLE subscribers ADD CONSTRAINT subscribers_opt_out_reason_check
  CHECK (opt_out_reason IS NULL OR opted_out_at IS NOT NULL);
ALTER TABLE subscribers ADD CONSTRAINT subscribers_opt_status_check
  CHECK (CASE opt_status
           WHEN 'pending'   THEN opted_in_at IS NULL AND opted_out_at IS NULL
           WHEN 'opted_in'  THEN opted_in_at IS NOT NULL AND (opted_out_at IS NULL OR opted_out_at <= opted_in_at)
           WHEN 'opted_out' THEN opted_out_at IS NOT NULL AND (opted_in_at IS NULL OR opted_in_at <= opted_out_at)
         END);

-- Audience size and campaign fan-out:
--   WHERE opt_status = 'opted_in' AND tags && $1   (or tags @> $1)
-- Only opted-in rows are indexed: smaller than the full GIN index and exactly the rows asked for.
CREATE INDEX subscribers_opted_in_tags_idx ON subscribers USING GIN (tags) WHERE opt_status = 'opted_in';

----------------------------------------------------------------------------------
-- messages
----------------------------------------------------------------------------------

ALTER TABLE messages ADD CONSTRAINT messages_direction_status_check
  CHECK ((direction = 'inbound') = (status = 'received'));
ALTER TABLE messages ADD CONSTRAINT messages_campaign_outbound_check
  CHECK (campaign_id IS NULL OR direction = 'outbound');
ALTER TABLE messages ADD CONSTRAINT messages_sender_user_outbound_check
  CHECK (sender_user_id IS NULL OR direction = 'outbound');
-- Delivery webhooks find messages by WhatsApp's id: every message past the queue has one.
ALTER TABLE messages ADD CONSTRAINT messages_whatsapp_message_id_check
  CHECK (whatsapp_message_id IS NOT NULL OR status IN ('queued', 'failed'));
-- The timestamp of the current status is set; later statuses' timestamps are not.
-- sent_at is not required for delivered/read: WhatsApp may report those first.
ALTER TABLE messages ADD CONSTRAINT messages_status_timestamps_check
  CHECK (CASE status
           WHEN 'queued'    THEN sent_at IS NULL AND delivered_at IS NULL AND read_at IS NULL AND failed_at IS NULL
           WHEN 'sent'      THEN sent_at IS NOT NULL AND delivered_at IS NULL AND read_at IS NULL AND failed_at IS NULL
           WHEN 'delivered' THEN delivered_at IS NOT NULL AND read_at IS NULL AND failed_at IS NULL
           WHEN 'read'      THEN read_at IS NOT NULL AND failed_at IS NULL
           WHEN 'failed'    THEN failed_at IS NOT NULL
           WHEN 'received'  THEN sent_at IS NULL AND delivered_at IS NULL AND read_at IS NULL AND failed_at IS NULL
         END);
ALTER TABLE messages ADD CONSTRAINT messages_error_check
  CHECK (status = 'failed' OR (error_code IS NULL AND error_reason IS NULL));
ALTER TABLE messages ADD CONSTRAINT messages_text_body_check
  CHECK (type <> 'text' OR body IS NOT NULL);
ALTER TABLE messages ADD CONSTRAINT messages_media_size_check
  CHECK (media_size_bytes >= 0);

-- "Messages this agent sent" (and the user-delete SET NULL). Partial: most messages are
-- broadcasts with no sender user, and they should not pay for this index.
CREATE INDEX messages_sender_user_id_idx ON messages (sender_user_id) WHERE sender_user_id IS NOT NULL;

-- An opted-out subscriber gets no new broadcast messages.
-- Why a trigger: the rule reads another table (subscribers.opt_status), which a CHECK
-- constraint cannot, and it must hold for every writer (fan-out SQL, the ORM, psql).
-- Why statement-level AFTER INSERT with a transition table rather than BEFORE INSERT FOR
-- EACH ROW: a fan-out inserts up to millions of rows in one statement; one join over the
-- new rows costs a fraction of a per-row lookup, and the exception still rolls the
-- whole statement back. Messages a user sends 1:1 (no campaign_id) are not blocked:
-- answering someone who wrote to us is allowed.
-- Limits: it checks at insert time (an opt-out committed while a fan-out runs is caught
-- by the sender's check before sending), and on INSERT only (campaign_id and
-- subscriber_id are not re-pointed after creation).
CREATE FUNCTION messages_reject_opted_out_broadcasts() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  offending record;
BEGIN
  SELECT n.subscriber_id, n.campaign_id, count(*) OVER () AS total
    INTO offending
    FROM new_rows n
    JOIN subscribers s ON s.id = n.subscriber_id
   WHERE n.direction = 'outbound'
     AND n.campaign_id IS NOT NULL
     AND s.opt_status = 'opted_out'
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'subscriber % has opted out: campaign % cannot message them (% such message(s) in this insert)',
        offending.subscriber_id, offending.campaign_id, offending.total
      USING ERRCODE = 'WA001',
            HINT = 'Select only subscribers with opt_status = ''opted_in'' when fanning out a campaign.';
  END IF;
  RETURN NULL;
END;
$$;

COMMENT ON FUNCTION messages_reject_opted_out_broadcasts() IS 'Rejects (SQLSTATE WA001) outbound campaign messages to opted-out subscribers.';

CREATE TRIGGER messages_reject_opted_out_broadcasts
  AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_reject_opted_out_broadcasts();

----------------------------------------------------------------------------------
-- campaigns, campaign performance
----------------------------------------------------------------------------------

ALTER TABLE campaigns ADD CONSTRAINT campaigns_name_check
  CHECK (btrim(name) <> '');
ALTER TABLE campaigns ADD CONSTRAINT campaigns_counters_check
  CHECK (total_recipients >= 0 AND sent_count >= 0 AND delivered_count >= 0 AND read_count >= 0 AND failed_count >= 0);
-- read ⊆ delivered ⊆ sent, and sent and failed are disjoint parts of the recipients.
ALTER TABLE campaigns ADD CONSTRAINT campaigns_counters_order_check
  CHECK (read_count <= delivered_count AND delivered_count <= sent_count AND sent_count + failed_count <= total_recipients);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_scheduled_at_check
  CHECK (status <> 'scheduled' OR scheduled_at IS NOT NULL);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_started_at_check
  CHECK (CASE
           WHEN status IN ('draft', 'scheduled') THEN started_at IS NULL
           WHEN status IN ('running', 'paused', 'completed') THEN started_at IS NOT NULL
           ELSE true -- cancelled or failed: before or after starting
         END);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_completed_at_check
  CHECK ((status IN ('completed', 'cancelled', 'failed')) = (completed_at IS NOT NULL));
ALTER TABLE campaigns ADD CONSTRAINT campaigns_completed_after_started_check
  CHECK (completed_at >= started_at);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_failure_reason_check
  CHECK (failure_reason IS NULL OR status = 'failed');
-- Past the draft, a campaign has something to send.
ALTER TABLE campaigns ADD CONSTRAINT campaigns_content_check
  CHECK (status IN ('draft', 'cancelled') OR body IS NOT NULL OR template_name IS NOT NULL OR media_url IS NOT NULL);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_template_check
  CHECK (template_language IS NULL OR template_name IS NOT NULL);
-- An unknown zone fails with `time zone "..." not recognized` (a fixed instant keeps it deterministic).
ALTER TABLE campaigns ADD CONSTRAINT campaigns_timezone_check
  CHECK ((timestamptz '2000-01-01 00:00:00+00' AT TIME ZONE timezone) IS NOT NULL);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_target_tags_check
  CHECK (array_position(target_tags, NULL) IS NULL AND NOT ('' = ANY (target_tags)));

-- Campaign counters = aggregates over the campaign's messages, so the dashboard reads one
-- row instead of counting millions. sent counts messages that reached sent (sent,
-- delivered, read), delivered those that reached delivered (delivered, read).
-- Statement-level with transition tables: a fan-out of N rows updates the campaign once;
-- a delivery webhook (one row) updates it once, and not at all when neither status nor
-- campaign_id changed.
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

-- Bring existing rows in line (the counters were not maintained before this migration).
UPDATE campaigns c
   SET total_recipients = s.total, sent_count = s.sent, delivered_count = s.delivered,
       read_count = s.read, failed_count = s.failed
  FROM (
    SELECT c2.id,
           count(m.id) AS total,
           count(m.id) FILTER (WHERE m.status IN ('sent', 'delivered', 'read')) AS sent,
           count(m.id) FILTER (WHERE m.status IN ('delivered', 'read')) AS delivered,
           count(m.id) FILTER (WHERE m.status = 'read') AS read,
           count(m.id) FILTER (WHERE m.status = 'failed') AS failed
      FROM campaigns c2 LEFT JOIN messages m ON m.campaign_id = c2.id
     GROUP BY c2.id
  ) s
 WHERE c.id = s.id
   AND (c.total_recipients, c.sent_count, c.delivered_count, c.read_count, c.failed_count)
       <> (s.total, s.sent, s.delivered, s.read, s.failed);
