// One edit of prisma/schema.prisma per kind of change a migration can make,
// applied to the real schema (so they keep working as the history grows),
// each with a script that uses it through the generated client. The scripts
// remove what they wrote, so a rollback afterwards destroys no data (and
// needs no --accept-data-loss).
import assert from 'node:assert/strict'

export interface SchemaChange {
  kind: string
  /** snake_case migration name. */
  name: string
  edit(schema: string): string
  /** A statement the generated migration.sql must contain. */
  up: RegExp
  /** Table whose data the change (or `use`) alters; every other table must keep its data. */
  table: string
  /** Body of a script that uses the change through the generated client (`prisma` in scope); it prints `expect`. */
  use: string
  expect: string
}

function replaceOnce(schema: string, from: RegExp, to: string): string {
  const out = schema.replace(from, to)
  assert.notEqual(out, schema, `schema.prisma no longer matches ${from}: update test/helpers/schema-changes.ts`)
  return out
}

const NOTE_MODEL = `
model SubscriberNote {
  id           Int        @id @default(autoincrement())
  subscriberId Int        @map("subscriber_id")
  body         String
  subscriber   Subscriber @relation(fields: [subscriberId], references: [id], onDelete: Cascade)

  @@index([subscriberId])
  @@map("subscriber_notes")
}
`

export const SCHEMA_CHANGES: SchemaChange[] = [
  {
    kind: 'add column',
    name: 'add_subscriber_nickname',
    edit: (s) => replaceOnce(s, /^( {2}name +String\? +@db\.VarChar\(255\)\n)(?= {2}\/\/\/ Free-form tags)/m, '$1  nickname     String?\n'),
    up: /ALTER TABLE "subscribers" ADD COLUMN\s+"nickname" TEXT/,
    table: 'subscribers',
    use: `const s = await prisma.subscriber.create({ data: { phone: '+4915112345001', nickname: 'Nick' } })\nawait prisma.subscriber.delete({ where: { id: s.id } })\nconsole.log(s.nickname)`,
    expect: 'Nick',
  },
  {
    kind: 'drop column',
    name: 'drop_group_last_synced_at',
    edit: (s) => replaceOnce(s, /^ +lastSyncedAt +DateTime\? +@map\("last_synced_at"\).*\n/m, ''),
    up: /ALTER TABLE "whatsapp_groups" DROP COLUMN "last_synced_at"/,
    table: 'whatsapp_groups',
    use: `const g = await prisma.whatsappGroup.findFirstOrThrow()\nconsole.log('lastSyncedAt' in g)`,
    expect: 'false',
  },
  {
    kind: 'add model with relation',
    name: 'add_subscriber_notes',
    edit: (s) => replaceOnce(s, /^( {2}groups {3}GroupMember\[\]\n {2}messages Message\[\]\n)/m, '$1  notes    SubscriberNote[]\n') + NOTE_MODEL,
    up: /CREATE TABLE "subscriber_notes"/,
    table: 'subscriber_notes',
    use: `const s = await prisma.subscriber.findFirstOrThrow({ include: { notes: true } })\nconst n = await prisma.subscriberNote.create({ data: { subscriberId: s.id, body: 'called back' } })\nawait prisma.subscriberNote.delete({ where: { id: n.id } })\nconsole.log(n.body)`,
    expect: 'called back',
  },
  {
    kind: 'add index',
    name: 'index_subscriber_name',
    edit: (s) => replaceOnce(s, /^( {2}@@unique\(\[phone\]\)\n)/m, '$1  @@index([name])\n'),
    up: /CREATE INDEX "subscribers_name_idx" ON "subscribers"\("name"\)/,
    table: 'subscribers',
    use: `console.log(await prisma.subscriber.count({ where: { name: 'nobody at all' } }))`,
    expect: '0',
  },
  {
    kind: 'add enum value',
    name: 'add_owner_role',
    edit: (s) => replaceOnce(s, /^( {2}AGENT {3}@map\("agent"\)\n)/m, '$1  OWNER   @map("owner")\n'),
    up: /ALTER TYPE "user_role" ADD VALUE 'owner'/,
    table: 'users',
    // Deleted again: a down cannot remove an enum value some row still uses (see src/migrate/README.md).
    use: `const u = await prisma.user.create({ data: { email: 'owner@example.test', name: 'Owner', passwordHash: 'scrypt$16384$8$1$c2FsdA==$aGFzaA==', role: 'OWNER' } })\nawait prisma.user.delete({ where: { id: u.id } })\nconsole.log(u.role)`,
    expect: 'OWNER',
  },
  {
    kind: 'rename via @map',
    name: 'rename_group_description',
    edit: (s) => replaceOnce(s, /^( {2}description +String\?)\n(?= {2}inviteLink)/m, '$1 @map("details")\n'),
    up: /ALTER TABLE "whatsapp_groups" RENAME COLUMN "description" TO "details"/,
    table: 'whatsapp_groups',
    use: `const g = await prisma.whatsappGroup.findFirstOrThrow({ where: { description: { not: null } } })\nconsole.log(typeof g.description)`,
    expect: 'string',
  },
  {
    kind: 'change a default',
    name: 'campaign_timezone_default',
    edit: (s) => replaceOnce(s, /(timezone +String +)@default\("UTC"\)/, '$1@default("Europe/Berlin")'),
    up: /ALTER TABLE "campaigns" ALTER COLUMN "timezone" SET DEFAULT 'Europe\/Berlin'/,
    table: 'campaigns',
    use: `const c = await prisma.campaign.create({ data: { name: 'default check' } })\nawait prisma.campaign.delete({ where: { id: c.id } })\nconsole.log(c.timezone)`,
    expect: 'Europe/Berlin',
  },
]
