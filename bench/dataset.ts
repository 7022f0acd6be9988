// The benchmark dataset: the seeds' volume generator (seeds/volume.ts) plus what the
// scenarios need around it: an owner, 20 groups (every 10th subscriber a member) and
// completed campaigns with targeting. Deterministic: the same scale gives the same rows.
import type pg from 'pg'

import { insertVolumeMessages, insertVolumeSubscribers } from '../seeds/volume.ts'

export interface DatasetSize {
  subscribers: number
  campaigns: number
  messages: number
  groups: number
}

export function datasetSize(scale: number): DatasetSize {
  return {
    subscribers: Math.max(2000, Math.round(200_000 * scale)),
    // At least 10: each campaign messages a subscriber at most once, so small scales spread wider.
    campaigns: Math.max(10, Math.round(50 * Math.min(scale, 1))),
    messages: Math.max(5000, Math.round(1_000_000 * scale)),
    groups: 20,
  }
}

/** Campaign targeting of the historical campaigns, cycled. */
const TARGETS: Array<[string[], 'any' | 'all']> = [
  [['news'], 'any'],
  [['promo'], 'any'],
  [['vip'], 'any'],
  [['news', 'ar'], 'all'],
  [['promo', 'cairo'], 'all'],
]

export async function buildDataset(client: pg.PoolClient, size: DatasetSize, log: (line: string) => void): Promise<void> {
  const step = async <T>(label: string, fn: () => Promise<T>) => {
    const t = performance.now()
    const r = await fn()
    log(`  ${label}: ${typeof r === 'number' ? `${r} rows ` : typeof r === 'string' ? `${r} ` : ''}in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    return r
  }
  const sql = (text: string, params: unknown[] = []) => async () => (await client.query(text, params)).rowCount ?? 0
  await step('users', sql(`INSERT INTO users (email, name, password_hash, role) VALUES ('bench@watify.test', 'Bench Owner', 'scrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2g=', 'manager')`))
  await step('whatsapp_groups', sql(`INSERT INTO whatsapp_groups (whatsapp_group_id, name) SELECT '120363' || lpad(g::text, 12, '0') || '@g.us', 'Group ' || g FROM generate_series(1, $1::int) g`, [size.groups]))
  await step('subscribers', () => insertVolumeSubscribers(client, size.subscribers, () => {}, 200_000))
  await step('group_members (every 10th subscriber)', sql(`INSERT INTO group_members (group_id, subscriber_id) SELECT (i / 10) % $2::int + 1, i FROM generate_series(10, $1::int, 10) i`, [size.subscribers, size.groups]))
  const campaignIds = await step('campaigns (completed)', async () =>
    (
      await client.query(
        `INSERT INTO campaigns (owner_id, name, status, body, target_tags, target_tag_match, started_at, completed_at, created_at)
         SELECT 1, 'Campaign ' || c, 'completed', 'Hello from campaign ' || c,
                string_to_array((ARRAY[${TARGETS.map(([t]) => `'${t.join(',')}'`).join(', ')}])[(c - 1) % ${TARGETS.length} + 1], ','),
                (ARRAY[${TARGETS.map(([, m]) => `'${m}'`).join(', ')}]::tag_match[])[(c - 1) % ${TARGETS.length} + 1],
                now() - ($1::int - c + 2) * interval '1 day', now() - ($1::int - c + 1) * interval '1 day', now() - ($1::int - c + 3) * interval '1 day'
           FROM generate_series(1, $1::int) c
         RETURNING id`,
        [size.campaigns],
      )
    ).rows.map((r: { id: number }) => r.id),
  )
  await step('messages', () => insertVolumeMessages(client, campaignIds, size.messages, log, 200_000))
  // Counter changes of the load go into the campaign rows, as the periodic fold would.
  await step('campaign_counters_fold', async () => `${(await client.query('SELECT campaign_counters_fold(NULL) AS n')).rows[0].n} campaigns folded`)
  // Fresh statistics and visibility map, as a production table would have after autovacuum.
  await step('VACUUM ANALYZE', sql('VACUUM ANALYZE'))
}
