// Typed domain errors on a real, migrated PostgreSQL: every CHECK, UNIQUE (constraint,
// primary key or unique index), FOREIGN KEY and RAISE code of the live catalog has a
// mapping (src/domain/rules.ts), and each one, broken through the typed client, arrives
// as its class with the rule's name, its fields and the original error as `cause`. Then
// the api: the same mapping for errors of its pg fast path and of its Prisma path.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import pg from 'pg'

import { ApiInputError, createApi } from '../src/api/index.ts'
import { errorClassForRule, NotFoundError, OptedOutError, ReferenceViolationError, UniquenessError, ValidationError, WatifyError } from '../src/domain/errors.ts'
import { withDomainRules } from '../src/domain/extension.ts'
import { DATABASE_RULES, RAISED_CODES } from '../src/domain/rules.ts'
import type { PrismaClient } from '../src/generated/prisma/client.ts'
import { openApiDatabase } from './helpers/api.ts'
import { query } from './helpers/db.ts'

const t = await openApiDatabase('domain_errors')
const prisma: PrismaClient = withDomainRules(t.prisma)
after(() => t.close())

// The live catalog: constraints and unique indexes of the application's tables (Prisma's
// own _prisma_migrations excluded), with their columns in key order.
// A partition's rules are its partitioned table's (errors name the partition's copy, mapped back);
// watify:internal tables are kept by triggers that raise the parent rule's name.
const OWN_TABLE = `NOT t.relispartition AND coalesce(obj_description(t.oid, 'pg_class'), '') NOT LIKE 'watify:internal%'`
const CATALOG_SQL = `
SELECT c.conname AS name, c.contype::text AS type, t.relname AS table,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns
  FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
 WHERE t.relnamespace = current_schema()::regnamespace AND c.contype IN ('c', 'u', 'f', 'p', 'x') AND t.relname NOT LIKE '\\_%' AND ${OWN_TABLE}
UNION ALL
SELECT i.relname, 'i', t.relname,
       array(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o)
  FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
 WHERE t.relnamespace = current_schema()::regnamespace AND t.relname NOT LIKE '\\_%' AND ${OWN_TABLE}
   -- a unique rule a partitioned table cannot index: kept in a lookup table, raised under this index's name
   AND (ix.indisunique OR coalesce(obj_description(i.oid, 'pg_class'), '') LIKE 'watify:unique%')
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype IN ('u', 'p', 'x'))`
// SQLSTATEs raised by the schema's functions (RAISE ... USING ERRCODE = '...').
// Only trigger functions: what they raise reaches the backend from a write (a function the
// commands call, such as messages_create_partitions, raises to the command, not to the app).
const RAISES_SQL = `
SELECT p.proname AS function, m[1] AS code
  FROM pg_proc p, regexp_matches(p.prosrc, 'ERRCODE\\s*=\\s*''([^'']+)''', 'g') m
 WHERE p.pronamespace = current_schema()::regnamespace AND p.prorettype = 'trigger'::regtype`
// A standard condition raised with CONSTRAINT = '<rule>' (010's lookup-table triggers) is that rule.
const RAISED_RULES_SQL = `
SELECT p.proname AS function, m[1] AS rule
  FROM pg_proc p, regexp_matches(p.prosrc, 'CONSTRAINT\\s*=\\s*''([^'']+)''', 'g') m
 WHERE p.pronamespace = current_schema()::regnamespace AND p.prorettype = 'trigger'::regtype`

const camel = (c: string) => c.replace(/_([a-z0-9])/g, (_, x: string) => x.toUpperCase())
const KIND: Record<string, string> = { c: 'check', u: 'unique', p: 'unique', i: 'unique', f: 'foreign_key', x: 'exclusion' }

test('every CHECK, UNIQUE, FOREIGN KEY and RAISE code of the migrated schema has a mapping, with the catalog\'s columns as fields', async () => {
  const catalog = await query<{ name: string; type: string; table: string; columns: string[] }>(t.db.url, CATALOG_SQL)
  assert.ok(catalog.length > 60, `the catalog query found the rules (${catalog.length})`)
  const missing = catalog.filter((r) => !DATABASE_RULES[r.name]).map((r) => `${r.name} (${KIND[r.type]} on ${r.table})`)
  assert.deepEqual(missing, [], 'rules without a mapping: add them to src/domain/rules.ts')
  const stale = Object.keys(DATABASE_RULES).filter((name) => !catalog.some((r) => r.name === name))
  assert.deepEqual(stale, [], 'mappings of rules the schema no longer has')
  for (const r of catalog) {
    const rule = DATABASE_RULES[r.name]!
    assert.deepEqual({ kind: rule.kind, table: rule.table, fields: [...rule.fields] }, { kind: KIND[r.type], table: r.table, fields: r.columns.map(camel) }, r.name)
    assert.ok(errorClassForRule(r.name), `${r.name} maps to an error class`)
  }
  const raises = (await query<{ function: string; code: string }>(t.db.url, RAISES_SQL)).filter((r) => /^[0-9A-Z]{5}$/.test(r.code))
  assert.deepEqual(raises.map((r) => r.code).sort(), Object.keys(RAISED_CODES).sort(), 'RAISE codes without a mapping (or mappings of codes no longer raised)')
  for (const r of raises) assert.equal(RAISED_CODES[r.code]!.rule, r.function)
  const conditions = (await query<{ function: string; code: string }>(t.db.url, RAISES_SQL)).filter((r) => !/^[0-9A-Z]{5}$/.test(r.code))
  const named = await query<{ function: string; rule: string }>(t.db.url, RAISED_RULES_SQL)
  for (const c of conditions) assert.ok(named.some((n) => n.function === c.function), `${c.function} raises ${c.code} without naming the rule (USING CONSTRAINT = '<rule>')`)
  for (const n of named) assert.ok(DATABASE_RULES[n.rule], `${n.function} raises rule ${n.rule}, which has no mapping`)
})

// ---------------------------------------------------------------------------
// Each rule broken through the typed client

const PW = 'scrypt$16384$8$1$c2FsdA==$aGFzaA=='
const HEX = 'a'.repeat(64)
const HEX2 = 'b'.repeat(64)
const MISSING = 999_999
let n = 0
const uniq = () => ++n
const email = () => `u${uniq()}@example.com`
const phone = () => `+20100${String(uniq()).padStart(7, '0')}`
const fx = {} as { user: number; group: number; sub: number; optedOut: number; campaign: number; message: bigint; wamid: string }

before(async () => {
  fx.user = (await prisma.user.create({ data: { email: email(), name: 'U', passwordHash: PW, emailVerificationTokenHash: HEX, emailVerificationExpiresAt: new Date(), passwordResetTokenHash: HEX2, passwordResetExpiresAt: new Date() } })).id
  fx.group = (await prisma.whatsappGroup.create({ data: { whatsappGroupId: '120363000000000001@g.us', name: 'G' } })).id
  fx.sub = (await prisma.subscriber.create({ data: { phone: phone(), optStatus: 'OPTED_IN', optedInAt: new Date(), optInMethod: 'API' } })).id
  fx.optedOut = (await prisma.subscriber.create({ data: { phone: phone(), optStatus: 'OPTED_OUT', optedOutAt: new Date(), optOutMethod: 'API' } })).id
  fx.campaign = (await prisma.campaign.create({ data: { name: 'C', body: 'Hi' } })).id
  fx.wamid = 'wamid.fixture'
  fx.message = (await prisma.message.create({ data: { direction: 'OUTBOUND', body: 'x', campaignId: fx.campaign, subscriberId: fx.sub, status: 'SENT', sentAt: new Date(), whatsappMessageId: fx.wamid } })).id
  await prisma.groupAdmin.create({ data: { groupId: fx.group, userId: fx.user } })
  await prisma.groupMember.create({ data: { groupId: fx.group, subscriberId: fx.sub } })
  await prisma.campaignGroup.create({ data: { campaignId: fx.campaign, groupId: fx.group } })
  await prisma.campaignCounterShard.create({ data: { campaignId: fx.campaign, shard: 99 } })
})

const user = (data: Record<string, unknown>) => prisma.user.create({ data: { email: email(), name: 'U', passwordHash: PW, ...data } as never })
const group = (data: Record<string, unknown>) => prisma.whatsappGroup.create({ data: { whatsappGroupId: `1203630${uniq()}@g.us`, name: 'G', ...data } as never })
const subscriber = (data: Record<string, unknown>) => prisma.subscriber.create({ data: { phone: phone(), ...data } as never })
const message = (data: Record<string, unknown>) => prisma.message.create({ data: { direction: 'OUTBOUND', body: 'x', ...data } as never })
const campaign = (data: Record<string, unknown>) => prisma.campaign.create({ data: { name: 'C', body: 'Hi', ...data } as never })

/** One way to break each rule through the typed client (raw SQL where the client's normalisation would prevent it). */
const BREAK: Record<string, () => Promise<unknown>> = {
  users_email_normalized_check: () => prisma.$executeRawUnsafe(`INSERT INTO users (email, name, password_hash) VALUES ('Mixed@Example.com', 'U', '${PW}')`),
  users_email_format_check: () => prisma.$executeRawUnsafe(`INSERT INTO users (email, name, password_hash) VALUES ('no-at-sign', 'U', '${PW}')`),
  users_password_hash_format_check: () => user({ passwordHash: 'plaintext' }),
  users_failed_login_attempts_check: () => prisma.user.update({ where: { id: fx.user }, data: { failedLoginAttempts: -1 } }),
  users_email_verification_token_hash_check: () => user({ emailVerificationTokenHash: 'Z'.repeat(64), emailVerificationExpiresAt: new Date() }),
  users_email_verification_token_expiry_check: () => user({ emailVerificationTokenHash: 'c'.repeat(64) }),
  users_email_verified_no_token_check: () => user({ emailVerifiedAt: new Date(), emailVerificationTokenHash: 'd'.repeat(64), emailVerificationExpiresAt: new Date() }),
  users_password_reset_token_hash_check: () => user({ passwordResetTokenHash: 'Z'.repeat(64), passwordResetExpiresAt: new Date() }),
  users_password_reset_token_expiry_check: () => user({ passwordResetTokenHash: 'e'.repeat(64) }),
  users_email_key: async () => user({ email: (await prisma.user.findUniqueOrThrow({ where: { id: fx.user } })).email }),
  users_email_verification_token_hash_key: () => user({ emailVerificationTokenHash: HEX, emailVerificationExpiresAt: new Date() }),
  users_password_reset_token_hash_key: () => user({ passwordResetTokenHash: HEX2, passwordResetExpiresAt: new Date() }),
  users_pkey: () => user({ id: fx.user }),

  whatsapp_groups_whatsapp_group_id_check: () => group({ whatsappGroupId: 'not-a-jid' }),
  whatsapp_groups_name_check: () => group({ name: '   ' }),
  whatsapp_groups_invite_link_check: () => group({ inviteLink: 'http://example.com/x' }),
  whatsapp_groups_member_count_check: () => prisma.whatsappGroup.update({ where: { id: fx.group }, data: { memberCount: -5 } }),
  whatsapp_groups_whatsapp_group_id_key: () => group({ whatsappGroupId: '120363000000000001@g.us' }),
  whatsapp_groups_pkey: () => group({ id: fx.group }),
  group_admins_pkey: () => prisma.groupAdmin.create({ data: { groupId: fx.group, userId: fx.user } }),
  group_admins_group_id_fkey: () => prisma.groupAdmin.create({ data: { groupId: MISSING, userId: fx.user } }),
  group_admins_user_id_fkey: () => prisma.groupAdmin.create({ data: { groupId: fx.group, userId: MISSING } }),
  group_members_pkey: () => prisma.groupMember.create({ data: { groupId: fx.group, subscriberId: fx.sub } }),
  group_members_group_id_fkey: () => prisma.groupMember.create({ data: { groupId: MISSING, subscriberId: fx.sub } }),
  group_members_subscriber_id_fkey: () => prisma.groupMember.create({ data: { groupId: fx.group, subscriberId: MISSING } }),

  subscribers_phone_e164_check: () => prisma.$executeRawUnsafe(`INSERT INTO subscribers (phone) VALUES ('0300 1234567')`),
  subscribers_tags_check: () => subscriber({ tags: ['ok', ''] }),
  subscribers_attributes_check: () => subscriber({ attributes: ['not', 'an', 'object'] }),
  subscribers_opt_in_recorded_check: () => subscriber({ optedInAt: new Date() }),
  subscribers_opt_out_recorded_check: () => subscriber({ optedOutAt: new Date() }),
  subscribers_opt_out_reason_check: () => subscriber({ optOutReason: 'no opt-out recorded' }),
  subscribers_opt_status_check: () => subscriber({ optStatus: 'OPTED_IN' }),
  subscribers_phone_key: async () => subscriber({ phone: (await prisma.subscriber.findUniqueOrThrow({ where: { id: fx.sub } })).phone }),
  subscribers_pkey: () => subscriber({ id: fx.sub }),

  messages_direction_status_check: () => message({ direction: 'INBOUND' }),
  messages_campaign_outbound_check: () => message({ direction: 'INBOUND', status: 'RECEIVED', campaignId: fx.campaign }),
  messages_sender_user_outbound_check: () => message({ direction: 'INBOUND', status: 'RECEIVED', senderUserId: fx.user }),
  messages_whatsapp_message_id_check: () => message({ status: 'SENT', sentAt: new Date() }),
  messages_status_timestamps_check: () => message({ status: 'SENT', whatsappMessageId: `wamid.ts${uniq()}` }),
  messages_error_check: () => message({ errorCode: '131047' }),
  messages_text_body_check: () => message({ body: null }),
  messages_media_size_check: () => message({ type: 'IMAGE', mediaSizeBytes: -1 }),
  messages_whatsapp_message_id_key: () => message({ status: 'SENT', sentAt: new Date(), whatsappMessageId: fx.wamid }),
  messages_campaign_id_subscriber_id_key: () => message({ campaignId: fx.campaign, subscriberId: fx.sub }),
  messages_pkey: () => message({ id: fx.message }),
  messages_subscriber_id_fkey: () => message({ subscriberId: MISSING }),
  messages_group_id_fkey: () => message({ groupId: MISSING }),
  messages_sender_user_id_fkey: () => message({ senderUserId: MISSING }),
  // RESTRICT: a campaign that has messages cannot be deleted.
  messages_campaign_id_fkey: () => prisma.campaign.delete({ where: { id: fx.campaign } }),
  messages_reject_opted_out_broadcasts: () => message({ campaignId: fx.campaign, subscriberId: fx.optedOut }),

  campaigns_name_check: () => campaign({ name: ' ' }),
  campaigns_counters_check: () => campaign({ totalRecipients: -1 }),
  campaigns_counters_order_check: () => campaign({ totalRecipients: 5, readCount: 1 }),
  campaigns_scheduled_at_check: () => campaign({ status: 'SCHEDULED' }),
  campaigns_started_at_check: () => campaign({ status: 'RUNNING' }),
  campaigns_completed_at_check: () => campaign({ status: 'CANCELLED' }),
  campaigns_completed_after_started_check: () => campaign({ status: 'CANCELLED', startedAt: new Date('2026-02-01'), completedAt: new Date('2026-01-01') }),
  campaigns_failure_reason_check: () => campaign({ failureReason: 'not failed' }),
  campaigns_content_check: () => campaign({ status: 'SCHEDULED', scheduledAt: new Date(), body: null }),
  campaigns_template_check: () => campaign({ templateLanguage: 'en_US' }),
  campaigns_timezone_check: () => campaign({ timezone: 'Mars/Olympus_Mons' }),
  campaigns_target_tags_check: () => campaign({ targetTags: ['vip', ''] }),
  campaigns_owner_id_fkey: () => campaign({ ownerId: MISSING }),
  campaigns_pkey: () => campaign({ id: fx.campaign }),
  campaign_groups_pkey: () => prisma.campaignGroup.create({ data: { campaignId: fx.campaign, groupId: fx.group } }),
  campaign_groups_campaign_id_fkey: () => prisma.campaignGroup.create({ data: { campaignId: MISSING, groupId: fx.group } }),
  campaign_groups_group_id_fkey: () => prisma.campaignGroup.create({ data: { campaignId: fx.campaign, groupId: MISSING } }),
  campaign_counter_shards_pkey: () => prisma.campaignCounterShard.create({ data: { campaignId: fx.campaign, shard: 99 } }),
  campaign_counter_shards_campaign_id_fkey: () => prisma.campaignCounterShard.create({ data: { campaignId: MISSING, shard: 1 } }),
}

const EXPECTED_CLASS = { check: ValidationError, unique: UniquenessError, foreign_key: ReferenceViolationError } as const

test('every rule has a case below that breaks it (a new rule needs one)', () => {
  const rules = [...Object.keys(DATABASE_RULES), ...Object.values(RAISED_CODES).map((r) => r.rule)].sort()
  assert.deepEqual(Object.keys(BREAK).sort(), rules)
})

for (const [rule, breakIt] of Object.entries(BREAK)) {
  const info = DATABASE_RULES[rule] ?? Object.values(RAISED_CODES).find((r) => r.rule === rule)!
  const cls = DATABASE_RULES[rule] ? EXPECTED_CLASS[DATABASE_RULES[rule].kind] : OptedOutError
  test(`${rule} -> ${cls.name} (fields ${info.fields.join(', ')})`, async () => {
    const err = await breakIt().then(
      () => assert.fail(`${rule}: the write succeeded`),
      (e: unknown) => e,
    )
    assert.ok(err instanceof cls, `${rule}: got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`)
    assert.ok(err instanceof WatifyError)
    assert.equal(err.rule, rule)
    assert.deepEqual(err.fields, info.fields)
    assert.equal(err.table, info.table)
    assert.match(err.code ?? '', /^(23\d{3}|22023|WA001)$/, 'the SQLSTATE the database raised')
    assert.ok(err.cause, 'the original error is the cause')
    assert.match(err.message, new RegExp(`^${rule}`))
  })
}

test('users_email_key is a UniquenessError whose fields include email, also for a differently written duplicate', async () => {
  const { email: stored } = await prisma.user.findUniqueOrThrow({ where: { id: fx.user } })
  const err = await user({ email: `  ${stored.toUpperCase()} ` }).catch((e: unknown) => e)
  assert.ok(err instanceof UniquenessError)
  assert.ok(err.fields.includes('email'))
  assert.equal(err.rule, 'users_email_key')
  assert.equal((err.cause as { code?: string }).code, 'P2002')
})

test('rules broken inside an interactive transaction and by createMany are typed too; a missing record is a NotFoundError', async () => {
  const inTx = await prisma.$transaction(async (tx) => tx.subscriber.create({ data: { phone: phone(), tags: [''] } })).catch((e: unknown) => e)
  assert.ok(inTx instanceof ValidationError && inTx.rule === 'subscribers_tags_check', String(inTx))
  const many = await prisma.campaign.createMany({ data: [{ name: 'ok', body: 'x' }, { name: '', body: 'x' }] }).catch((e: unknown) => e)
  assert.ok(many instanceof ValidationError && many.rule === 'campaigns_name_check', String(many))
  assert.equal(await prisma.campaign.count({ where: { name: 'ok' } }), 0, 'createMany is all or nothing')
  const missing = await prisma.user.update({ where: { id: MISSING }, data: { name: 'x' } }).catch((e: unknown) => e)
  assert.ok(missing instanceof NotFoundError, String(missing))
  assert.equal(missing.rule, 'record_not_found')
})

// ---------------------------------------------------------------------------
// The api: its pg fast path and its Prisma path raise the same classes

for (const [label, getDb] of t.paths) {
  test(`api (${label}): a unique violation met by markMessageSent is a UniquenessError on whatsappMessageId`, async () => {
    const db = getDb()
    const api = createApi(label === 'prisma' ? withDomainRules(db as PrismaClient) : db)
    const [a, b] = await Promise.all([message({ campaignId: null }), message({ campaignId: null })])
    const wamid = `wamid.race.${label}`
    // Another session gives message a this WhatsApp id and holds its transaction open:
    // markMessageSent(b) does not see it (its check finds no owner), then waits on the
    // unique index until that transaction commits, and meets the unique violation.
    const other = new pg.Client({ connectionString: t.db.url })
    await other.connect()
    try {
      await other.query('BEGIN')
      await other.query(`UPDATE messages SET status = 'sent', sent_at = now(), whatsapp_message_id = $1 WHERE id = $2`, [wamid, a.id.toString()])
      const call = api.markMessageSent(b.id, wamid, new Date()).catch((e: unknown) => e)
      await waitForLockWait(t.db.url)
      await other.query('COMMIT')
      const err = await call
      assert.ok(err instanceof UniquenessError, `got ${String(err)}`)
      assert.equal(err.rule, 'messages_whatsapp_message_id_key')
      assert.deepEqual(err.fields, ['whatsappMessageId'])
      assert.equal(err.code, '23505')
      assert.ok(err.cause)
    } finally {
      await other.end()
    }
    const [row] = await query<{ status: string }>(t.db.url, 'SELECT status::text FROM messages WHERE id = $1', [b.id.toString()])
    assert.equal(row!.status, 'queued', 'the message the call failed for is unchanged')
  })

  test(`api (${label}): a phone that cannot be normalised is a ValidationError naming phone, before anything is written`, async () => {
    const api = createApi(getDb())
    const before = await prisma.subscriber.count()
    const err = await api.importSubscribers([{ phone: '+20 100 000 9999' }, { phone: 'call me' }]).catch((e: unknown) => e)
    assert.ok(err instanceof ApiInputError && err instanceof ValidationError, String(err))
    assert.equal(err.rule, 'subscribers_phone_e164_check')
    assert.deepEqual(err.fields, ['phone'])
    assert.match(err.message, /^importSubscribers: row 1: phone `call me` is not a phone number/)
    assert.equal(await prisma.subscriber.count(), before)
  })
}

/** Until some session of this database waits for a lock (the call has reached the unique index). */
async function waitForLockWait(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [r] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)
    if (r!.n > 0) return
    await new Promise((res) => setTimeout(res, 25))
  }
  throw new Error('markMessageSent never waited for the other transaction')
}
