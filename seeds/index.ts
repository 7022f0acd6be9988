// Seed entry point: `tsx seeds/index.ts` (Prisma's seed command, `npm run seed`).
// Demo data always; a realistic volume on request:
//   tsx seeds/index.ts --subscribers=200000 --messages=1000000
// Safe to run again: every seed upserts on a natural key, so a second run leaves the same rows.
import { parseArgs } from 'node:util'

import { quietOnClosedPipe } from '../src/cli/output.ts'
import { seedCampaigns } from './campaigns.ts'
import { seedGroups } from './groups.ts'
import { seedConversation, seedDeliveredCampaign, seedLoadMessages } from './messages.ts'
import { seedSubscribers } from './subscribers.ts'
import { seedUsers } from './users.ts'
import { insertVolumeSubscribers } from './volume.ts'

const USAGE = 'Usage: tsx seeds/index.ts [--subscribers=N] [--messages=N]'

export function parseSeedArgs(argv: readonly string[]): { subscribers: number; messages: number } {
  let values: Record<string, unknown>
  try {
    ;({ values } = parseArgs({ args: [...argv], options: { subscribers: { type: 'string' }, messages: { type: 'string' } }, strict: true, allowPositionals: false }))
  } catch (err) {
    throw new Error(`${(err as Error).message.split('. ')[0]}. ${USAGE}`)
  }
  const count = (name: 'subscribers' | 'messages'): number => {
    const v = values[name]
    if (v === undefined) return 0
    if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new Error(`Unknown or malformed option \`--${name}=${String(v)}\`. ${USAGE}`)
    return Number(v)
  }
  return { subscribers: count('subscribers'), messages: count('messages') }
}

type Client = typeof import('../src/client.ts')

// A project command, like `npm run migrate`: without DATABASE_URL it uses the
// embedded server, which the backend's client only does when asked.
process.env.WATIFY_DEV_EMBEDDED ||= '1'
quietOnClosedPipe(process.stdout, process.stderr)

async function main(client: (c: Client) => void): Promise<void> {
  const opts = parseSeedArgs(process.argv.slice(2))
  // The client connects when imported: loaded once the arguments are checked,
  // inside the error handling, so a bad URL is reported like any failure.
  const loaded = await import('../src/client.ts')
  client(loaded)
  const { api, pool, prisma } = loaded
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

let client: Client | undefined
try {
  await main((c) => (client = c))
} catch (err) {
  const hint = (err as { hint?: string })?.hint
  process.stderr.write(`Seeding failed: ${err instanceof Error ? err.message : String(err)}${hint ? `\n${hint}` : ''}\n`)
  process.exitCode = 1
} finally {
  // Prisma does not end the pool it was given; an open pool would keep the process alive.
  await client?.prisma.$disconnect()
  await client?.pool.end()
}
