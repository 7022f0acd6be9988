// Seed entry point: `tsx seeds/index.ts` (Prisma's seed command, `npm run seed`).
// Demo data always; a realistic volume on request:
//   tsx seeds/index.ts --subscribers=200000 --messages=1000000
// Safe to run again: every seed upserts on a natural key, so a second run leaves the same rows.
import { parseArgs } from 'node:util'

import { api, pool, prisma } from '../src/client.ts'
import { seedCampaigns } from './campaigns.ts'
import { seedGroups } from './groups.ts'
import { seedConversation, seedDeliveredCampaign, seedLoadMessages } from './messages.ts'
import { seedSubscribers } from './subscribers.ts'
import { seedUsers } from './users.ts'
import { insertVolumeSubscribers } from './volume.ts'

const USAGE = 'Usage: tsx seeds/index.ts [--subscribers=N] [--messages=N]'

export function parseSeedArgs(argv: readonly string[]): { subscribers: number; messages: number } {
  let values: { subscribers?: string; messages?: string }
  try {
    ;({ values } = parseArgs({ args: [...argv], options: { subscribers: { type: 'string' }, messages: { type: 'string' } }, strict: true, allowPositionals: false }))
  } catch {
    const bad = argv.find((a) => !/^--(subscribers|messages)=/.test(a)) ?? argv.join(' ')
    throw new Error(`Unknown or malformed option \`${bad}\`. ${USAGE}`)
  }
  const out = { subscribers: 0, messages: 0 }
  for (const key of ['subscribers', 'messages'] as const) {
    const text = values[key]
    if (text === undefined) continue
    if (!/^\d+$/.test(text)) throw new Error(`Unknown or malformed option \`--${key}=${text}\`. ${USAGE}`)
    out[key] = Number(text)
  }
  return out
}

async function main(): Promise<void> {
  const opts = parseSeedArgs(process.argv.slice(2))
  const log = (line: string) => process.stdout.write(`${line}\n`)
  const started = Date.now()

  const users = await seedUsers(prisma)
  log(`Users: ${users.length}`)
  const groups = await seedGroups(prisma, users)
  log(`Groups: ${groups.length}`)
  const subscribers = await seedSubscribers(prisma, groups)
  log(`Subscribers (demo): ${subscribers.length}`)
  const manager = users.find((u) => u.role === 'MANAGER')!
  const agent = users.find((u) => u.role === 'AGENT')!
  const campaigns = await seedCampaigns(prisma, manager, groups)
  await seedDeliveredCampaign(prisma, api, campaigns[0]!)
  await seedConversation(prisma, subscribers[1]!, agent)
  log(`Campaigns (demo): ${campaigns.length}`)

  if (opts.subscribers > 0) {
    const n = await insertVolumeSubscribers(pool, opts.subscribers, log)
    // Fresh statistics, so the queries that follow (and a benchmark) plan for the real volume.
    await pool.query('ANALYZE subscribers')
    log(`Subscribers (load): ${n} new`)
  }
  if (opts.messages > 0) {
    const n = await seedLoadMessages(prisma, pool, manager, opts.messages, log)
    log(`Messages (load): ${n} new`)
  }
  // Move the counter changes of the walk and the load into the campaign rows (the job a
  // deployment runs periodically), so the seeded rows read as the counts they are.
  await api.foldCampaignCounters()
  log(`Seeded in ${((Date.now() - started) / 1000).toFixed(1)}s`)
}

try {
  await main()
} catch (err) {
  process.stderr.write(`Seeding failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
} finally {
  // Prisma does not end the pool it was given; an open pool would keep the process alive.
  await prisma.$disconnect()
  await pool.end()
}
