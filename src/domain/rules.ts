// Every rule the database enforces, by the name PostgreSQL reports when it rejects a write:
// each CHECK, UNIQUE (constraints, primary keys and unique indexes) and FOREIGN KEY of the
// migrated schema, with the Prisma fields it involves (the catalog's columns, camelCased as
// in prisma/schema.prisma), and the codes the schema's functions RAISE.
// test/domain-errors.test.ts compares this list with the live catalog of a migrated
// database: a migration that adds a rule without an entry here fails that test.

export type RuleKind = 'check' | 'unique' | 'foreign_key'

export interface RuleInfo {
  kind: RuleKind
  table: string
  fields: readonly string[]
}

export const DATABASE_RULES: Readonly<Record<string, RuleInfo>> = {
  // campaign_counter_shards
  campaign_counter_shards_campaign_id_fkey: { kind: 'foreign_key', table: 'campaign_counter_shards', fields: ['campaignId'] },
  campaign_counter_shards_pkey: { kind: 'unique', table: 'campaign_counter_shards', fields: ['campaignId', 'shard'] },
  // campaign_groups
  campaign_groups_campaign_id_fkey: { kind: 'foreign_key', table: 'campaign_groups', fields: ['campaignId'] },
  campaign_groups_group_id_fkey: { kind: 'foreign_key', table: 'campaign_groups', fields: ['groupId'] },
  campaign_groups_pkey: { kind: 'unique', table: 'campaign_groups', fields: ['campaignId', 'groupId'] },
  // campaigns
  campaigns_completed_after_started_check: { kind: 'check', table: 'campaigns', fields: ['completedAt', 'startedAt'] },
  campaigns_completed_at_check: { kind: 'check', table: 'campaigns', fields: ['status', 'completedAt'] },
  campaigns_content_check: { kind: 'check', table: 'campaigns', fields: ['status', 'body', 'templateName', 'mediaUrl'] },
  campaigns_counters_check: { kind: 'check', table: 'campaigns', fields: ['totalRecipients', 'sentCount', 'deliveredCount', 'readCount', 'failedCount'] },
  campaigns_counters_order_check: { kind: 'check', table: 'campaigns', fields: ['readCount', 'deliveredCount', 'sentCount', 'failedCount', 'totalRecipients'] },
  campaigns_failure_reason_check: { kind: 'check', table: 'campaigns', fields: ['failureReason', 'status'] },
  campaigns_name_check: { kind: 'check', table: 'campaigns', fields: ['name'] },
  campaigns_scheduled_at_check: { kind: 'check', table: 'campaigns', fields: ['status', 'scheduledAt'] },
  campaigns_started_at_check: { kind: 'check', table: 'campaigns', fields: ['status', 'startedAt'] },
  campaigns_target_tags_check: { kind: 'check', table: 'campaigns', fields: ['targetTags'] },
  campaigns_template_check: { kind: 'check', table: 'campaigns', fields: ['templateLanguage', 'templateName'] },
  campaigns_timezone_check: { kind: 'check', table: 'campaigns', fields: ['timezone'] },
  campaigns_owner_id_fkey: { kind: 'foreign_key', table: 'campaigns', fields: ['ownerId'] },
  campaigns_pkey: { kind: 'unique', table: 'campaigns', fields: ['id'] },
  // group_admins
  group_admins_group_id_fkey: { kind: 'foreign_key', table: 'group_admins', fields: ['groupId'] },
  group_admins_user_id_fkey: { kind: 'foreign_key', table: 'group_admins', fields: ['userId'] },
  group_admins_pkey: { kind: 'unique', table: 'group_admins', fields: ['groupId', 'userId'] },
  // group_members
  group_members_group_id_fkey: { kind: 'foreign_key', table: 'group_members', fields: ['groupId'] },
  group_members_subscriber_id_fkey: { kind: 'foreign_key', table: 'group_members', fields: ['subscriberId'] },
  group_members_pkey: { kind: 'unique', table: 'group_members', fields: ['groupId', 'subscriberId'] },
  // messages
  messages_campaign_outbound_check: { kind: 'check', table: 'messages', fields: ['campaignId', 'direction'] },
  messages_direction_status_check: { kind: 'check', table: 'messages', fields: ['direction', 'status'] },
  messages_error_check: { kind: 'check', table: 'messages', fields: ['status', 'errorCode', 'errorReason'] },
  messages_media_size_check: { kind: 'check', table: 'messages', fields: ['mediaSizeBytes'] },
  messages_sender_user_outbound_check: { kind: 'check', table: 'messages', fields: ['senderUserId', 'direction'] },
  messages_status_timestamps_check: { kind: 'check', table: 'messages', fields: ['status', 'sentAt', 'deliveredAt', 'readAt', 'failedAt'] },
  messages_text_body_check: { kind: 'check', table: 'messages', fields: ['type', 'body'] },
  messages_whatsapp_message_id_check: { kind: 'check', table: 'messages', fields: ['whatsappMessageId', 'status'] },
  messages_campaign_id_fkey: { kind: 'foreign_key', table: 'messages', fields: ['campaignId'] },
  messages_group_id_fkey: { kind: 'foreign_key', table: 'messages', fields: ['groupId'] },
  messages_sender_user_id_fkey: { kind: 'foreign_key', table: 'messages', fields: ['senderUserId'] },
  messages_subscriber_id_fkey: { kind: 'foreign_key', table: 'messages', fields: ['subscriberId'] },
  messages_campaign_id_subscriber_id_key: { kind: 'unique', table: 'messages', fields: ['campaignId', 'subscriberId'] },
  messages_whatsapp_message_id_key: { kind: 'unique', table: 'messages', fields: ['whatsappMessageId'] },
  messages_pkey: { kind: 'unique', table: 'messages', fields: ['id'] },
  // subscribers
  subscribers_attributes_check: { kind: 'check', table: 'subscribers', fields: ['attributes'] },
  subscribers_opt_in_recorded_check: { kind: 'check', table: 'subscribers', fields: ['optedInAt', 'optInMethod'] },
  subscribers_opt_out_reason_check: { kind: 'check', table: 'subscribers', fields: ['optOutReason', 'optedOutAt'] },
  subscribers_opt_out_recorded_check: { kind: 'check', table: 'subscribers', fields: ['optedOutAt', 'optOutMethod'] },
  subscribers_opt_status_check: { kind: 'check', table: 'subscribers', fields: ['optStatus', 'optedInAt', 'optedOutAt'] },
  subscribers_phone_e164_check: { kind: 'check', table: 'subscribers', fields: ['phone'] },
  subscribers_tags_check: { kind: 'check', table: 'subscribers', fields: ['tags'] },
  subscribers_phone_key: { kind: 'unique', table: 'subscribers', fields: ['phone'] },
  subscribers_pkey: { kind: 'unique', table: 'subscribers', fields: ['id'] },
  // users
  users_email_format_check: { kind: 'check', table: 'users', fields: ['email'] },
  users_email_normalized_check: { kind: 'check', table: 'users', fields: ['email'] },
  users_email_verification_token_expiry_check: { kind: 'check', table: 'users', fields: ['emailVerificationTokenHash', 'emailVerificationExpiresAt'] },
  users_email_verification_token_hash_check: { kind: 'check', table: 'users', fields: ['emailVerificationTokenHash'] },
  users_email_verified_no_token_check: { kind: 'check', table: 'users', fields: ['emailVerifiedAt', 'emailVerificationTokenHash'] },
  users_failed_login_attempts_check: { kind: 'check', table: 'users', fields: ['failedLoginAttempts'] },
  users_password_hash_format_check: { kind: 'check', table: 'users', fields: ['passwordHash'] },
  users_password_reset_token_expiry_check: { kind: 'check', table: 'users', fields: ['passwordResetTokenHash', 'passwordResetExpiresAt'] },
  users_password_reset_token_hash_check: { kind: 'check', table: 'users', fields: ['passwordResetTokenHash'] },
  users_email_key: { kind: 'unique', table: 'users', fields: ['email'] },
  users_email_verification_token_hash_key: { kind: 'unique', table: 'users', fields: ['emailVerificationTokenHash'] },
  users_password_reset_token_hash_key: { kind: 'unique', table: 'users', fields: ['passwordResetTokenHash'] },
  users_pkey: { kind: 'unique', table: 'users', fields: ['id'] },
  // whatsapp_groups
  whatsapp_groups_invite_link_check: { kind: 'check', table: 'whatsapp_groups', fields: ['inviteLink'] },
  whatsapp_groups_member_count_check: { kind: 'check', table: 'whatsapp_groups', fields: ['memberCount'] },
  whatsapp_groups_name_check: { kind: 'check', table: 'whatsapp_groups', fields: ['name'] },
  whatsapp_groups_whatsapp_group_id_check: { kind: 'check', table: 'whatsapp_groups', fields: ['whatsappGroupId'] },
  whatsapp_groups_whatsapp_group_id_key: { kind: 'unique', table: 'whatsapp_groups', fields: ['whatsappGroupId'] },
  whatsapp_groups_pkey: { kind: 'unique', table: 'whatsapp_groups', fields: ['id'] },
}

export interface RaisedCodeInfo {
  /** The function that raises it (the rule's name). */
  rule: string
  table: string
  fields: readonly string[]
}

/** SQLSTATEs the schema's own functions raise (RAISE ... USING ERRCODE). */
export const RAISED_CODES: Readonly<Record<string, RaisedCodeInfo>> = {
  // 007: an outbound campaign message to an opted-out subscriber
  WA001: { rule: 'messages_reject_opted_out_broadcasts', table: 'messages', fields: ['subscriberId', 'campaignId'] },
}
