// One edit of prisma/schema.prisma per kind of change a migration can make,
// applied to the real schema (so they keep working as the history grows).
// Each names a field or model nothing else depends on.
import assert from 'node:assert/strict'

export interface SchemaChange {
  kind: string
  /** snake_case migration name. */
  name: string
  edit(schema: string): string
  /** A statement the generated migration.sql must contain. */
  up: RegExp
}

function replaceOnce(schema: string, from: string | RegExp, to: string): string {
  const out = schema.replace(from, to)
  assert.notEqual(out, schema, `schema.prisma no longer contains ${from}: update test/helpers/schema-changes.ts`)
  return out
}

const SUBSCRIBER_NAME = /^(  name +String\? +@db\.VarChar\(255\)\n)(?=  \/\/\/ Free-form tags)/m

export const SCHEMA_CHANGES: SchemaChange[] = [
  { kind: 'add column', name: 'add_subscriber_nickname', edit: (s) => replaceOnce(s, SUBSCRIBER_NAME, '$1  nickname     String?\n'), up: /ALTER TABLE "subscribers" ADD COLUMN\s+"nickname" TEXT/ },
  { kind: 'drop column', name: 'drop_group_last_synced_at', edit: (s) => replaceOnce(s, /^ +lastSyncedAt +DateTime\? +@map\("last_synced_at"\).*\n/m, ''), up: /ALTER TABLE "whatsapp_groups" DROP COLUMN "last_synced_at"/ },
  {
    kind: 'add model with relation',
    name: 'add_subscriber_notes',
    edit: (s) =>
      replaceOnce(s, /^(  groups   GroupMember\[\]\n  messages Message\[\]\n)/m, '$1  notes    SubscriberNote[]\n') +
      '\nmodel SubscriberNote {\n  id           Int        @id @default(autoincrement())\n  subscriberId Int        @map("subscriber_id")\n  body         String\n  subscriber   Subscriber @relation(fields: [subscriberId], references: [id], onDelete: Cascade)\n\n  @@index([subscriberId])\n  @@map("subscriber_notes")\n}\n',
    up: /CREATE TABLE "subscriber_notes"/,
  },
  { kind: 'add index', name: 'index_subscriber_name', edit: (s) => replaceOnce(s, /^(  @@index\(\[tags\], type: Gin\)\n)/m, '$1  @@index([name])\n'), up: /CREATE INDEX "subscribers_name_idx"/ },
  { kind: 'add enum value', name: 'add_owner_role', edit: (s) => replaceOnce(s, /^(  AGENT   @map\("agent"\)\n)/m, '$1  OWNER   @map("owner")\n'), up: /ALTER TYPE "user_role" ADD VALUE 'owner'/ },
  { kind: 'rename via @map', name: 'rename_group_description', edit: (s) => replaceOnce(s, /^(  description +String\?)\n(?=  inviteLink)/m, '$1 @map("details")\n'), up: /ALTER TABLE "whatsapp_groups" RENAME COLUMN "description" TO "details"/ },
  { kind: 'change a default', name: 'campaign_timezone_default', edit: (s) => replaceOnce(s, /(timezone +String +)@default\("UTC"\)/, '$1@default("Europe/Berlin")'), up: /ALTER TABLE "campaigns" ALTER COLUMN "timezone" SET DEFAULT 'Europe\/Berlin'/ },
]
