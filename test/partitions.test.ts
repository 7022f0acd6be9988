// messages partitioned by id (010): the unique rules across partitions under concurrency,
// exact counters, retention with its archive, and Prisma Migrate with runtime partitions.
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'

import { campaignPerformance, fanOutCampaign, markMessageSent } from '../src/api/index.ts'
import { countedByStatus, openApiDatabase, type ApiTestDatabase } from './helpers/api.ts'
import { query } from './helpers/db.ts'
import { PRISMA_BIN, ROOT, run } from './helpers/prisma.ts'
import { cleanEnv } from './fixtures/cli.ts'

const CLI = join(ROOT, 'bin/watify.mjs')
const cli = (url: string, args: string[]) => run(process.execPath, [CLI, ...args], { env: { DATABASE_URL: url } })

describe('messages partitioned by id', { concurrency: false }, () => {
  let t: ApiTestDatabase
  let campaignId: number
  let subscribers: number[]
  // The pool fast path of src/api (the other path is Prisma alone).
  const viaPool = () => ({ prisma: t.prisma, pool: t.pool })

  before(async () => {
    t = await openApiDatabase('partitions')
    const owner = (await query<{ id: number }>(t.db.url, `INSERT INTO users (email, password_hash, name) VALUES ('p@example.com', 'scrypt$16384$8$1$c2FsdA==$aGFzaA==', 'P') RETURNING id`))[0]!.id
    const subs = await query<{ id: number }>(t.db.url, `INSERT INTO subscribers (phone, opt_status, opted_in_at, opt_in_method, tags)
      SELECT '+9715' || lpad(g::text, 8, '0'), 'opted_in', now(), 'web_form', '{news}' FROM generate_series(1, 400) g RETURNING id`)
    subscribers = subs.map((s) => s.id)
    campaignId = (await query<{ id: number }>(t.db.url, `INSERT INTO campaigns (owner_id, name, body, target_tags) VALUES ($1, 'Across', 'Hi', '{news}') RETURNING id`, [owner]))[0]!.id
  })
  after(async () => t?.close())

  test('two concurrent fan-outs of one campaign straddling a partition boundary: one message per subscriber, exact counters', async () => {
    // Narrow partitions, and the id sequence 150 below a boundary: the 400 messages span two partitions.
    const r = await cli(t.db.url, ['messages:partitions', '--ahead=3', '--width=1000'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const bounds = await query<{ lo: string }>(t.db.url, `SELECT min(substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''?([0-9]+)')::bigint)::text AS lo
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass`)
    const boundary = Number(bounds[0]!.lo)
    await query(t.db.url, `SELECT setval('messages_id_seq', $1)`, [boundary - 150])
    // Both bypass nothing and one goes around the campaign lock: the rule holds either way.
    const results = await Promise.all([fanOutCampaign(viaPool(), campaignId), fanOutCampaign(t.prisma, campaignId)])
    assert.equal(results[0]!.inserted + results[1]!.inserted, 400)
    const rows = await query<{ n: number; subs: number; parts: number }>(t.db.url, `SELECT count(*)::int AS n, count(DISTINCT subscriber_id)::int AS subs, count(DISTINCT tableoid)::int AS parts FROM messages WHERE campaign_id = $1`, [campaignId])
    assert.deepEqual(rows[0], { n: 400, subs: 400, parts: 2 })
    // A direct duplicate insert fails with the unique rule's name (Prisma: P2002).
    await assert.rejects(query(t.db.url, `INSERT INTO messages (campaign_id, subscriber_id, direction, body) VALUES ($1, $2, 'outbound', 'x')`, [campaignId, subscribers[0]]),
      (err: { code?: string; constraint?: string }) => err.code === '23505' && err.constraint === 'messages_campaign_id_subscriber_id_key')
    const perf = await campaignPerformance(viaPool(), campaignId)
    const counted = await countedByStatus(t.db.url, campaignId)
    assert.equal(perf!.total, counted.total)
    assert.equal(perf!.total, 400)
  })

  test('one WhatsApp id, two messages in different partitions, sent at once: one wins, the lookup names the winner', async () => {
    const [a, b] = await query<{ id: string; p: string }>(t.db.url, `(SELECT id::text, tableoid::regclass::text AS p FROM messages WHERE campaign_id = $1 ORDER BY id LIMIT 1)
      UNION ALL (SELECT id::text, tableoid::regclass::text FROM messages WHERE campaign_id = $1 ORDER BY id DESC LIMIT 1)`, [campaignId])
    assert.notEqual(a!.p, b!.p)
    const at = new Date()
    const settled = await Promise.allSettled([markMessageSent(viaPool(), BigInt(a!.id), 'wamid.same', at), markMessageSent(t.prisma, BigInt(b!.id), 'wamid.same', at)])
    assert.equal(settled.filter((s) => s.status === 'fulfilled' && s.value.outcome === 'updated').length, 1, JSON.stringify(settled.map((s) => s.status)))
    const holders = await query<{ id: string }>(t.db.url, `SELECT id::text FROM messages WHERE whatsapp_message_id = 'wamid.same'`)
    const lookup = await query<{ id: string }>(t.db.url, `SELECT message_id::text AS id FROM message_whatsapp_ids WHERE whatsapp_message_id = 'wamid.same'`)
    assert.equal(holders.length, 1)
    assert.deepEqual(lookup, holders)
    // Prisma's typed client: findUnique by WhatsApp id, update by id, findMany, create.
    const m = await t.prisma.message.findUnique({ where: { whatsappMessageId: 'wamid.same' } })
    assert.equal(String(m!.id), holders[0]!.id)
    const upd = await t.prisma.message.update({ where: { id: m!.id }, data: { body: 'edited' } })
    assert.equal(upd.body, 'edited')
    assert.equal((await t.prisma.message.findMany({ where: { campaignId } })).length, 400)
    const created = await t.prisma.message.create({ data: { subscriberId: subscribers[1]!, direction: 'INBOUND', status: 'RECEIVED', body: 'hi', whatsappMessageId: 'wamid.in.1' } })
    assert.ok(created.id > 0n)
  })

  test('migrate dev creates nothing, migrate diff exits 0 and db pull keeps the model with 24 runtime partitions', async () => {
    const r = await cli(t.db.url, ['messages:partitions', '--ahead=24'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const { n } = (await query<{ n: number }>(t.db.url, `SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'messages'::regclass`))[0]!
    assert.ok(n >= 24, String(n))
    const diff = await run(PRISMA_BIN, ['migrate', 'diff', '--from-config-datasource', '--to-schema', 'prisma/schema.prisma', '--exit-code'], { cwd: ROOT, env: { DATABASE_URL: t.db.url } })
    assert.equal(diff.code, 0, diff.stdout + diff.stderr)
    const before = readdirSync(join(ROOT, 'prisma/migrations')).sort()
    const dev = await run(PRISMA_BIN, ['migrate', 'dev'], { cwd: ROOT, env: { DATABASE_URL: t.db.url } })
    assert.equal(dev.code, 0, dev.stdout + dev.stderr)
    assert.match(dev.stdout, /Already in sync, no schema change or pending migration was found\./)
    assert.deepEqual(readdirSync(join(ROOT, 'prisma/migrations')).sort(), before)
    const pull = await run(PRISMA_BIN, ['db', 'pull', '--print'], { cwd: ROOT, env: { DATABASE_URL: t.db.url } })
    assert.equal(pull.code, 0, pull.stderr)
    assert.doesNotMatch(pull.stdout, /model messages_p|model message_whatsapp_ids|model campaign_recipients|partition/)
    assert.match(pull.stdout, /@@unique\(\[campaignId, subscriberId\]\)/)
    assert.match(pull.stdout, /whatsappMessageId String\?\s+@unique @map\("whatsapp_message_id"\) @db\.VarChar\(128\)/)
  })

  test('a column and an index added to Message with migrate dev reach every partition; the rollback removes them from every partition', async () => {
    // A copy of the project (its own prisma/ folder) on this database, which has 24+ runtime partitions.
    const dir = mkdtempSync(join(tmpdir(), 'watify-partitions-'))
    try {
      for (const entry of ['package.json', 'prisma.config.ts', 'tsconfig.json', 'prisma', 'src', 'bin', 'seeds', 'scripts', 'dist']) {
        if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true, preserveTimestamps: true })
      }
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
      const env = cleanEnv({ DATABASE_URL: t.db.url, WATIFY_PROJECT_ROOT: undefined })
      const schemaPath = join(dir, 'prisma/schema.prisma')
      const schema = readFileSync(schemaPath, 'utf8')
      const edited = schema
        .replace(/^( {2}claimedAt +DateTime\? +@map\("claimed_at"\).*\n)/m, '$1  note              String?\n')
        .replace(/^( {2}@@map\("messages"\)\n)/m, '  @@index([readAt])\n$1')
      assert.notEqual(edited, schema)
      writeFileSync(schemaPath, edited)
      const parts = async () => (await query<{ n: number }>(t.db.url, `SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'messages'::regclass`))[0]!.n
      const withNote = async () => (await query<{ n: number }>(t.db.url, `SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_attribute a ON a.attrelid = i.inhrelid AND a.attname = 'note' AND NOT a.attisdropped WHERE i.inhparent = 'messages'::regclass`))[0]!.n
      const indexed = async () => (await query<{ n: number }>(t.db.url, `SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = to_regclass('messages_read_at_idx')`))[0]!.n
      const dev = await run(PRISMA_BIN, ['migrate', 'dev', '--name', 'message_note'], { cwd: dir, env, timeoutMs: 300_000 })
      assert.equal(dev.code, 0, dev.stdout + dev.stderr)
      const n = await parts()
      assert.ok(n >= 24, String(n))
      assert.equal(await withNote(), n)
      assert.equal(await indexed(), n)
      const rb = await run(process.execPath, [join(dir, 'bin/watify.mjs'), 'migrate:rollback'], { cwd: dir, env, timeoutMs: 300_000 })
      assert.equal(rb.code, 0, rb.stdout + rb.stderr)
      assert.equal(await withNote(), 0)
      assert.equal(await indexed(), 0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('retention: refused without consent (exit 7), then archived, detached and dropped; the archive loads back; counters stay exact', async () => {
    // The campaign's first partition becomes old, and the sequence moves past it.
    const { p } = (await query<{ p: string }>(t.db.url, `SELECT tableoid::regclass::text AS p FROM messages WHERE campaign_id = $1 ORDER BY id LIMIT 1`, [campaignId]))[0]!
    await query(t.db.url, `UPDATE ${p} SET created_at = now() - interval '400 days'`)
    await query(t.db.url, `SELECT setval('messages_id_seq', (SELECT max(id) FROM messages) + 5000)`)
    const rowsInP = (await query<{ n: number }>(t.db.url, `SELECT count(*)::int AS n FROM ${p}`))[0]!.n
    const { bound } = (await query<{ bound: string }>(t.db.url, `SELECT pg_get_expr(relpartbound, oid) AS bound FROM pg_class WHERE relname = $1`, [p]))[0]!
    const refused = await cli(t.db.url, ['messages:retain', '--older-than=1 year'])
    assert.equal(refused.code, 7, refused.stdout + refused.stderr)
    assert.equal((await query(t.db.url, `SELECT 1 FROM pg_class WHERE relname = $1`, [p])).length, 1)
    const dir = mkdtempSync(join(tmpdir(), 'watify-archive-'))
    try {
      const r = await cli(t.db.url, ['messages:retain', '--older-than=1 year', `--archive=${dir}`, '--accept-data-loss'])
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.match(r.stdout, new RegExp(`Dropped: ${p} \\(${rowsInP} rows\\)`))
      assert.equal((await query(t.db.url, `SELECT 1 FROM pg_class WHERE relname = $1`, [p])).length, 0)
      const perf = await campaignPerformance(viaPool(), campaignId)
      const counted = await countedByStatus(t.db.url, campaignId)
      assert.equal(perf!.total, counted.total)
      assert.equal(counted.total, 400 - rowsInP)
      // Load the archive back (COPY FROM): the rows, the lookup rows and the counters return.
      const file = join(dir, `${p}.copy`)
      assert.ok(readFileSync(file).length > 0)
      const client = new pg.Client({ connectionString: t.db.url })
      await client.connect()
      try {
        // As docs/partitioning.md says: the range's partition again, the file into a scratch
        // table, then INSERT through messages so that its triggers restore lookups and counters.
        await client.query(`CREATE TABLE ${p} PARTITION OF messages ${bound}`)
        await client.query(`CREATE TEMP TABLE restore (LIKE messages)`)
        await pipeline(createReadStream(file), client.query(copyFrom(`COPY restore FROM STDIN`)))
        await client.query(`INSERT INTO messages SELECT * FROM restore`)
      } finally {
        await client.end()
      }
      assert.equal((await countedByStatus(t.db.url, campaignId)).total, 400)
      assert.equal((await campaignPerformance(viaPool(), campaignId))!.total, 400)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
