// Rendering library results as short parallel lines: one fact per line, the
// same words for the same thing, so people and scripts can read them alike.
import { maskUrl, type ResolvedUrl } from '../db/config.ts'
import type { StatusEntry, StatusReport } from '../migrate/index.ts'
import { failedResidue, type HistoryStatus } from '../migrate/state.ts'
import type { Output } from './output.ts'

export function when(d: Date | null | undefined): string {
  return d ? `${d.toISOString().slice(0, 19).replace('T', ' ')}Z` : ''
}

export function sourceText(r: ResolvedUrl): string {
  const name = r.variable ?? 'DATABASE_URL'
  return r.source === 'environment' ? `${name} from the environment` : r.source === '.env' ? `${name} from ${r.envFile ?? '.env'}` : 'embedded PostgreSQL, no DATABASE_URL set'
}

export function databaseLine(r: ResolvedUrl): string {
  return `Database: ${maskUrl(r.url)} (${sourceText(r)})`
}

function stateText(e: StatusEntry): string {
  switch (e.state) {
    case 'applied':
      return `applied ${when(e.row?.finishedAt)}`
    case 'failed':
      return `FAILED ${when(e.row?.startedAt)}`
    case 'rolled_back':
      return `rolled back ${when(e.row?.rolledBackAt)}`
    default:
      return 'pending'
  }
}

function mark(e: StatusEntry): string {
  if (e.missingLocally && e.state !== 'rolled_back') return '[?]'
  if (e.state === 'failed') return '[!]'
  return e.state === 'applied' ? '[X]' : '[ ]'
}

export function statusLines(s: HistoryStatus): string[] {
  const width = Math.max(0, ...s.entries.map((e) => e.name.length))
  const stateWidth = Math.max(0, ...s.entries.map((e) => stateText(e).length))
  const lines = s.entries.map((e) => {
    const notes: string[] = []
    if (e.missingLocally) notes.push('not in the migrations folder')
    else notes.push(e.downIncomplete ? 'down.sql incomplete' : e.hasDown ? 'down.sql' : 'no down.sql')
    if (e.checksumMatches === false) notes.push(e.state === 'failed' ? 'fixed since it failed: resolve it' : 'EDITED since applied (checksum differs)')
    if (e.outOfOrder) notes.push('out of order (sorts before an applied migration)')
    return `${mark(e)} ${e.name.padEnd(width)}  ${stateText(e).padEnd(stateWidth)}  ${notes.join(', ')}`.trimEnd()
  })
  const c = s.counts
  const parts = [`Applied: ${c.applied}`, `Pending: ${c.pending}`]
  if (c.failed) parts.push(`Failed: ${c.failed}`)
  if (c.edited) parts.push(`Edited: ${c.edited}`)
  if (c.missingLocally) parts.push(`Missing locally: ${c.missingLocally}`)
  if (c.outOfOrder) parts.push(`Out of order: ${c.outOfOrder}`)
  lines.push(parts.join('  '))
  return lines
}

/** What a failed migration left behind, from the outcome recorded with it. */
function failedOutcome(e: StatusEntry): string {
  const r = failedResidue(e)
  if (r.kind === 'nothing') return e.local?.outsideTransaction ? 'it runs outside a transaction; none of its statements was applied' : 'rolled back, database unchanged'
  if (r.kind === 'statements') return `it runs outside a transaction: statements 1 to ${r.applied} of ${r.total} stay applied`
  return 'it runs outside a transaction: the statements before the one that failed may stay applied'
}

/** What to do next, one line each (empty when up to date). */
export function nextSteps(s: StatusReport | HistoryStatus): string[] {
  const out: string[] = []
  const failed = s.entries.find((e) => e.state === 'failed')
  if (failed) {
    const fix = failed.checksumMatches === false ? 'It was fixed since; resolve it:' : failed.local?.outsideTransaction ? 'Fix the cause (it runs again from the top), then' : 'Fix it, then'
    out.push(`Failed: \`${failed.name}\` stops deploys (${failedOutcome(failed)}). ${fix} \`npx prisma migrate resolve --rolled-back ${failed.name}\` and \`npm run migrate\``)
  }
  const edited = s.entries.filter((e) => e.checksumMatches === false && e.state === 'applied')
  if (edited.length) out.push(`Edited: ${edited.map((e) => `\`${e.name}\``).join(', ')} changed after being applied; restore the applied version (git) or create a new migration instead`)
  const missing = s.entries.filter((e) => e.missingLocally && e.state === 'applied')
  if (missing.length) out.push(`Missing: ${missing.map((e) => `\`${e.name}\``).join(', ')} applied in the database but not in the migrations folder (another branch?)`)
  const early = s.entries.filter((e) => e.outOfOrder)
  if (early.length) out.push(`Out of order: ${early.map((e) => `\`${e.name}\``).join(', ')} must be renamed to sort after the last applied migration`)
  if ('invalidIndexes' in s && s.invalidIndexes.length) {
    out.push(`Invalid index: ${s.invalidIndexes.map((i) => `\`${i}\``).join(', ')} left by a concurrent build that failed (it slows writes and serves no query); the migration that builds it drops and rebuilds it when it runs again`)
  }
  if (!out.length && s.counts.pending) out.push(`Next: \`npm run migrate\` applies ${s.counts.pending} pending migration${s.counts.pending === 1 ? '' : 's'}`)
  return out
}

export function printStatus(out: Output, s: StatusReport): void {
  for (const line of statusLines(s)) out.out(line)
  if (s.lockHolder) out.out(`In progress: session pid ${s.lockHolder.pid}${s.lockHolder.applicationName ? ` (${s.lockHolder.applicationName})` : ''} holds the migration lock: a deploy or rollback is running; its migration shows as pending until it commits`)
  for (const line of nextSteps(s)) out.out(line)
}

/** After `prisma generate` ran because schema.prisma had changed since the client was generated. */
export const CLIENT_REGENERATED = 'Regenerated: the Prisma client (src/generated/prisma), to match prisma/schema.prisma'
