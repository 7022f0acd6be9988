// scale:check: the Citus distribution plan against the live catalog (src/scale/check.ts, docs/scaling.md).
import { maskUrl } from '../../db/config.ts'
import { connect } from '../../migrate/connection.ts'
import { MigrateError } from '../../migrate/errors.ts'
import { displayPath } from '../../migrate/options.ts'
import { checkScalePlan, DEFAULT_PLAN_PATH, type Finding, ScalePlanError } from '../../scale/check.ts'
import type { Command } from '../command.ts'

function findingLine(f: Finding): string {
  return `  ${f.id}\n      ${f.message}${f.acceptedAs ? `\n      becomes: ${f.acceptedAs}` : ''}`
}

export const scaleCheckCommand: Command = {
  name: 'scale:check',
  scriptNames: ['scale:check'],
  summary: 'Check the live schema against the Citus distribution plan: every unique constraint, index, foreign key and trigger that would not survive it; fails on any the plan does not accept.',
  options: [
    { name: 'plan', type: 'string', valueName: '<path>', description: `The distribution plan (default ${DEFAULT_PLAN_PATH})` },
    { name: 'json', type: 'boolean', description: 'Print one JSON object (for scripts)' },
  ],
  examples: ['npm run scale:check', 'npm run scale:check -- --json', 'DATABASE_URL=postgresql://app:secret@db:5432/app npm run scale:check'],
  exitCodes: [['OK', 'every finding is accepted by the plan'], ['FAILED', 'a constraint, index, foreign key, trigger or table breaks the plan (not in its accepted list)'], ['BAD_INPUT', 'bad arguments or an unreadable plan'], 'UNREACHABLE', 'AUTH_FAILED', 'DATABASE_MISSING'],
  async run(ctx) {
    const db = await ctx.database()
    const conn = await connect(db.url, { applicationName: 'wateen-scale-check' })
    let r
    try {
      r = await checkScalePlan(conn.client, { schema: conn.target.schema, ...(ctx.values.plan ? { planPath: ctx.values.plan as string } : {}) })
    } catch (err) {
      if (err instanceof ScalePlanError) throw new MigrateError('BAD_ARGUMENT', err.message)
      throw err
    } finally {
      await conn.close()
    }
    if (ctx.values.json) {
      ctx.out.out(JSON.stringify({ ok: r.breaking.length === 0, plan: displayPath(r.planPath), schema: r.schema, tables: r.tables, findings: r.findings, breaking: r.breaking.map((f) => f.id), staleAccepted: r.staleAccepted, absentTables: r.absentTables }))
      return r.breaking.length ? 1 : 0
    }
    const out = ctx.out
    out.out(`Distribution plan ${displayPath(r.planPath)} against ${maskUrl(db.url)} (schema ${r.schema}); Citus itself is not needed for this check.`)
    for (const t of r.tables) {
      out.out(`  ${t.name.padEnd(26)} ${t.placement === 'distributed' ? `distributed by ${t.column} (co-location ${t.colocate})` : t.placement === 'unplanned' ? 'NOT IN THE PLAN' : t.placement}`)
    }
    if (r.absentTables.length) out.out(`In the plan, not in this database: ${r.absentTables.join(', ')}`)
    const accepted = r.findings.filter((f) => f.acceptedAs !== undefined)
    out.out(`\nAccepted by the plan (${accepted.length}): what each becomes when moving, docs/scaling.md`)
    for (const f of accepted) out.out(findingLine(f))
    for (const id of r.staleAccepted) out.out(`Accepted entry matches nothing any more (remove it from the plan): ${id}`)
    if (r.breaking.length === 0) {
      out.out(`\nOK: nothing breaks the plan beyond its accepted list (${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}, all accepted).`)
      return 0
    }
    out.err(`\nBreaks the plan (${r.breaking.length}):`)
    for (const f of r.breaking) out.err(`${findingLine(f)}\n      definition: ${f.definition ?? '-'}`)
    out.err(`Fix: change the schema so it fits the plan (a unique rule must include the distribution column: see docs/scaling.md), or, once the move is planned for it, add the id to "accepted" in ${displayPath(r.planPath)} with what it becomes.`)
    return 1
  },
}
