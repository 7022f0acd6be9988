// messages' partitions (010): made ahead of the id sequence, and retention by whole
// partitions. The partitioning itself and why by id: docs/partitioning.md.
import { createWriteStream, mkdirSync } from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { to as copyTo } from 'pg-copy-streams'
import { connect, type Connection } from './connection.ts'
import { MigrateError } from './errors.ts'
import type { LossItem, LossReport } from './loss.ts'
import { quoteIdent } from './sql.ts'

export interface MessagePartition {
  name: string
  /** First id (null: MINVALUE, the first partition). */
  fromId: string | null
  /** First id past the partition. */
  toId: string
}

export interface EnsurePartitionsResult {
  created: MessagePartition[]
  partitions: MessagePartition[]
  /** The id sequence's current value. */
  lastId: string
}

const DROP_LOCK_TIMEOUT_MS = 100
const DROP_ATTEMPTS = 50

const LIST_SQL = `
SELECT c.relname AS name,
       substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''?(-?[0-9]+)') AS from_id,
       substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''?(-?[0-9]+)') AS to_id,
       i.inhdetachpending AS detaching
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'messages'::regclass
 ORDER BY substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''?(-?[0-9]+)')::bigint`

async function partitioned(conn: Connection): Promise<void> {
  const r = await conn.client.query(`SELECT relkind FROM pg_class WHERE oid = to_regclass('messages')`)
  if (r.rows[0]?.relkind !== 'p') {
    throw new MigrateError('BAD_ARGUMENT', '`messages` is not a partitioned table in this database.', { hint: 'Apply the migrations first: `npm run migrate` (010_partition_messages partitions it)' })
  }
}

export async function listPartitions(conn: Connection): Promise<Array<MessagePartition & { detaching: boolean }>> {
  const r = await conn.client.query<{ name: string; from_id: string | null; to_id: string; detaching: boolean }>(LIST_SQL)
  return r.rows.map((x) => ({ name: x.name, fromId: x.from_id, toId: x.to_id, detaching: x.detaching }))
}

/**
 * Makes sure `ahead` partitions lie entirely above the id sequence (messages_create_partitions
 * of 010: idempotent, concurrent runs queue on its advisory lock). `width` only for new ones.
 */
export async function ensurePartitions(opts: { url: string; ahead: number; width?: number; lockTimeoutMs?: number }): Promise<EnsurePartitionsResult> {
  const conn = await connect(opts.url, { applicationName: 'watify messages:partitions' })
  try {
    await partitioned(conn)
    await conn.client.query(`SET lock_timeout = ${Math.round(opts.lockTimeoutMs ?? 5000)}`)
    const r = await conn.client.query<{ partition_name: string; from_id: string; to_id: string }>('SELECT * FROM messages_create_partitions($1, $2)', [opts.ahead, opts.width ?? null])
    const last = await conn.client.query<{ v: string }>(`SELECT last_value::text AS v FROM messages_id_seq`)
    return { created: r.rows.map((x) => ({ name: x.partition_name, fromId: x.from_id, toId: x.to_id })), partitions: await listPartitions(conn), lastId: last.rows[0]!.v }
  } finally {
    await conn.close()
  }
}

export interface RetainCandidate extends MessagePartition {
  rows: number
  newest: Date | null
}

export interface RetainResult {
  /** Partitions wholly older than the cutoff, oldest first (dropped unless dryRun). */
  partitions: RetainCandidate[]
  cutoff: Date
  /** The loss, in the form every destructive command reports and asks consent for. */
  loss: LossReport
  /** Files written by --archive, one per partition. */
  archives: string[]
  /** True once the partitions were dropped (false: dry run or nothing to drop). */
  dropped: boolean
}

export interface RetainOptions {
  url: string
  /** A PostgreSQL interval: `90 days`, `1 year`. */
  olderThan: string
  archiveDir?: string
  dryRun?: boolean
  /** Called with the measured loss before anything changes; returning false refuses. */
  consent?: (loss: LossReport) => Promise<boolean> | boolean
  onPartition?: (p: RetainCandidate, step: 'archived' | 'detached' | 'dropped', detail?: string) => void
}

/**
 * Drops the partitions of messages whose newest row (max created_at) is older than now() -
 * olderThan, oldest first, never the partition the id sequence is in nor any after it:
 * each is (optionally) archived with COPY, detached CONCURRENTLY (webhooks keep writing),
 * its rows taken out of the campaign counters and the unique rules' lookup tables, dropped.
 */
export async function retainMessages(opts: RetainOptions): Promise<RetainResult> {
  const conn = await connect(opts.url, { applicationName: 'watify messages:retain' })
  try {
    await partitioned(conn)
    // A lock not granted in 5 s fails the step (run it again) instead of queueing webhooks behind it.
    await conn.client.query(`SET lock_timeout = '5s'`)
    const c = await conn.client.query<{ cutoff: Date; last: string }>(`SELECT now() - $1::interval AS cutoff, (SELECT last_value FROM messages_id_seq)::text AS last`, [opts.olderThan]).catch((err) => {
      throw new MigrateError('BAD_ARGUMENT', `\`--older-than\` is not an interval PostgreSQL reads: \`${opts.olderThan}\` (${(err as Error).message}).`, { hint: 'Example: `--older-than="90 days"` or `--older-than=1year`' })
    })
    const { cutoff, last } = c.rows[0]!
    const candidates: RetainCandidate[] = []
    for (const p of await listPartitions(conn)) {
      if (BigInt(p.toId) > BigInt(last)) break // the active partition and those ahead stay
      const r = await conn.client.query<{ n: string; newest: Date | null }>(`SELECT count(*) AS n, max(created_at) AS newest FROM ${quoteIdent(p.name)}`)
      const newest = r.rows[0]!.newest
      if (newest !== null && newest >= cutoff) break // ids grow with time: later partitions are newer
      candidates.push({ name: p.name, fromId: p.fromId, toId: p.toId, rows: Number(r.rows[0]!.n), newest })
    }
    const items: LossItem[] = candidates.map((p) => ({ kind: 'table-dropped', table: p.name, rows: p.rows, columns: [] }))
    const loss: LossReport = { items, losesData: items.some((i) => i.kind === 'table-dropped' && i.rows > 0), countMs: 0 }
    const result: RetainResult = { partitions: candidates, cutoff, loss, archives: [], dropped: false }
    if (opts.dryRun || candidates.length === 0) return result
    if (loss.losesData && !(await (opts.consent?.(loss) ?? false))) {
      throw new MigrateError('DATA_LOSS_REFUSED', `Retention would drop ${candidates.length} partition(s) of messages with ${candidates.reduce((s, p) => s + p.rows, 0)} rows, and nobody confirmed.`, {
        hint: 'See them with `npm run messages:retain -- --older-than=<interval> --dry-run`; add `--archive=<dir>` to keep a copy, and `--accept-data-loss` to go ahead',
      })
    }
    if (opts.archiveDir) mkdirSync(opts.archiveDir, { recursive: true })
    for (const p of candidates) {
      if (opts.archiveDir) {
        const file = path.join(opts.archiveDir, `${p.name}.copy`)
        // COPY text format with a header line of column names: `\copy messages FROM '<file>'` (or
        // COPY ... FROM STDIN) loads it back; the columns are messages' own, in table order.
        const stream = conn.client.query(copyTo(`COPY (SELECT * FROM ${quoteIdent(p.name)} ORDER BY id) TO STDOUT`))
        await pipeline(stream, createWriteStream(file))
        result.archives.push(file)
        opts.onPartition?.(p, 'archived', file)
      }
      // Not in a transaction (CONCURRENTLY): reads and writes of messages go on; a run killed
      // half-way leaves the partition "detach pending", which FINALIZE completes.
      const pending = (await listPartitions(conn)).find((x) => x.name === p.name)?.detaching
      await conn.client.query(`ALTER TABLE messages DETACH PARTITION ${quoteIdent(p.name)} ${pending ? 'FINALIZE' : 'CONCURRENTLY'}`)
      opts.onPartition?.(p, 'detached')
      // The drop locks the tables the partition's foreign keys point to (subscribers,
      // campaigns, ...): a short lock_timeout and a retry, so that webhooks never queue
      // long behind a drop that waits for a lock.
      for (let attempt = 1; ; attempt++) {
        await conn.client.query('BEGIN')
        try {
          await conn.client.query(`SET LOCAL lock_timeout = '${DROP_LOCK_TIMEOUT_MS}ms'`)
          await conn.client.query(`DELETE FROM message_whatsapp_ids w USING ${quoteIdent(p.name)} m WHERE w.whatsapp_message_id = m.whatsapp_message_id AND w.message_id = m.id`)
          await conn.client.query(`DELETE FROM campaign_recipients r USING ${quoteIdent(p.name)} m WHERE r.campaign_id = m.campaign_id AND r.subscriber_id = m.subscriber_id AND r.message_id = m.id`)
          // Counters last: webhooks of these campaigns that share this session's shard row wait
          // for it only from here to the commit.
          await conn.client.query(`CREATE TEMP TABLE watify_retained ON COMMIT DROP AS
  SELECT campaign_id, count(*) AS total,
         count(*) FILTER (WHERE status IN ('sent', 'delivered', 'read')) AS sent,
         count(*) FILTER (WHERE status IN ('delivered', 'read')) AS delivered,
         count(*) FILTER (WHERE status = 'read') AS read,
         count(*) FILTER (WHERE status = 'failed') AS failed
    FROM ${quoteIdent(p.name)} WHERE campaign_id IS NOT NULL GROUP BY campaign_id`)
          await conn.client.query(`DROP TABLE ${quoteIdent(p.name)}`)
          // The counters describe the messages kept: the same deltas as the DELETE branch of 008's trigger.
          await conn.client.query(`
  INSERT INTO campaign_counter_shards AS s (campaign_id, shard, total, sent, delivered, read, failed)
  SELECT campaign_id, pg_backend_pid() % 16, -total, -sent, -delivered, -read, -failed
    FROM watify_retained ORDER BY campaign_id
  ON CONFLICT (campaign_id, shard) DO UPDATE
     SET total = s.total + excluded.total, sent = s.sent + excluded.sent, delivered = s.delivered + excluded.delivered,
         read = s.read + excluded.read, failed = s.failed + excluded.failed`)
          await conn.client.query('COMMIT')
          break
        } catch (err) {
          await conn.client.query('ROLLBACK').catch(() => {})
          if ((err as { code?: string }).code !== '55P03' || attempt >= DROP_ATTEMPTS) throw err
          await new Promise((r) => setTimeout(r, 200))
        }
      }
      opts.onPartition?.(p, 'dropped')
    }
    result.dropped = true
    return result
  } finally {
    await conn.close()
  }
}
