-- Rollback: 007_add_database_rules
-- Returns the database to its state after 006: removes every trigger, function, index and
-- CHECK constraint 007 added, in reverse order. Counter values are data and stay as they are.

DROP TRIGGER messages_campaign_stats_truncate ON messages;
DROP TRIGGER messages_campaign_stats_delete ON messages;
DROP TRIGGER messages_campaign_stats_update ON messages;
DROP TRIGGER messages_campaign_stats_insert ON messages;
DROP FUNCTION messages_maintain_campaign_stats();

ALTER TABLE campaigns DROP CONSTRAINT campaigns_target_tags_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_timezone_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_template_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_content_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_failure_reason_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_completed_after_started_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_completed_at_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_started_at_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_scheduled_at_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_counters_order_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_counters_check;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_name_check;

DROP TRIGGER messages_reject_opted_out_broadcasts ON messages;
DROP FUNCTION messages_reject_opted_out_broadcasts();
DROP INDEX messages_sender_user_id_idx;
ALTER TABLE messages DROP CONSTRAINT messages_media_size_check;
ALTER TABLE messages DROP CONSTRAINT messages_text_body_check;
ALTER TABLE messages DROP CONSTRAINT messages_error_check;
ALTER TABLE messages DROP CONSTRAINT messages_status_timestamps_check;
ALTER TABLE messages DROP CONSTRAINT messages_whatsapp_message_id_check;
ALTER TABLE messages DROP CONSTRAINT messages_sender_user_outbound_check;
ALTER TABLE messages DROP CONSTRAINT messages_campaign_outbound_check;
ALTER TABLE messages DROP CONSTRAINT messages_direction_status_check;

DROP INDEX subscribers_opted_in_tags_idx;
ALTER TABLE subscribers DROP CONSTRAINT subscribers_opt_status_check;
ALTER TABLE subscribers DROP CONSTRAINT subscribers_opt_out_reason_check;
ALTER TABLE subscribers DROP CONSTRAINT subscribers_opt_out_recorded_check;
ALTER TABLE subscribers DROP CONSTRAINT subscribers_opt_in_recorded_check;
ALTER TABLE subscribers DROP CONSTRAINT subscribers_attributes_check;
ALTER TABLE subscribers DROP CONSTRAINT subscribers_tags_check;
ALTER TABLE subscribers DROP CONSTRAINT subscribers_phone_e164_check;

DROP TRIGGER group_members_count_truncate ON group_members;
DROP TRIGGER group_members_count_delete ON group_members;
DROP TRIGGER group_members_count_update ON group_members;
DROP TRIGGER group_members_count_insert ON group_members;
DROP FUNCTION group_members_maintain_member_count();
ALTER TABLE whatsapp_groups DROP CONSTRAINT whatsapp_groups_member_count_check;
ALTER TABLE whatsapp_groups DROP CONSTRAINT whatsapp_groups_invite_link_check;
ALTER TABLE whatsapp_groups DROP CONSTRAINT whatsapp_groups_name_check;
ALTER TABLE whatsapp_groups DROP CONSTRAINT whatsapp_groups_whatsapp_group_id_check;

ALTER TABLE users DROP CONSTRAINT users_password_reset_token_expiry_check;
ALTER TABLE users DROP CONSTRAINT users_password_reset_token_hash_check;
ALTER TABLE users DROP CONSTRAINT users_email_verified_no_token_check;
ALTER TABLE users DROP CONSTRAINT users_email_verification_token_expiry_check;
ALTER TABLE users DROP CONSTRAINT users_email_verification_token_hash_check;
ALTER TABLE users DROP CONSTRAINT users_failed_login_attempts_check;
ALTER TABLE users DROP CONSTRAINT users_password_hash_format_check;
ALTER TABLE users DROP CONSTRAINT users_email_format_check;
ALTER TABLE users DROP CONSTRAINT users_email_normalized_check;
