// `migrate:reset`: drop the schema with everything in it, recreate it with its
// owner and grants, and apply all migrations, all under the migration lock.
// The drop is measured before it commits (loss.ts) and commits only when the
// caller accepted what it destroys.
import { connect } from './connection.ts'
import { deployLocked, type DeployResult } from './deploy.ts'
import type { TimeoutOptions } from './guard.ts'
import { ScriptRunner } from './runner.ts'
import { refusal, runMeasured, type LossConsent, type LossReport } from './loss.ts'
import { underMigrationLock } from './lock.ts'
import type { CommonOptions } from './options.ts'
import { quoteIdent } from './sql.ts'

export interface ResetResult {
  schema: string
  /** What dropping the schema destroyed (or, for a dry run, would destroy). */
  loss: LossReport
  /** Undefined for a dry run. */
  deploy: DeployResult | undefined
}

export interface ResetOptions extends CommonOptions, TimeoutOptions, LossConsent {
  /** Measure what the drop would destroy; change nothing. */
  dryRun?: boolean
}

const PRIVILEGES: Record<string, string> = { U: 'USAGE', C: 'CREATE' }

export async function reset(opts: ResetOptions): Promise<ResetResult> {
  return underMigrationLock(opts, async (conn, local, logger) => {
    const { client, target } = conn
    const schema = quoteIdent(target.schema)
    // Keep who owns the schema and who may use it: DROP/CREATE would
    // otherwise hand it to the current user with no grants.
    const before = await client.query<{ owner: string; acl: string[] | null }>(
      `SELECT pg_get_userbyid(nspowner) AS owner, nspacl::text[] AS acl FROM pg_namespace WHERE nspname = $1`,
      [target.schema],
    )
    const prev = before.rows[0]
    const dropAndRecreate = async (): Promise<void> => {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await client.query(`CREATE SCHEMA ${schema}`)
      if (!prev) return
      const me = (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u
      if (prev.owner !== me) {
        // Best effort: a non-superuser may not be allowed to give the schema back.
        await client.query('SAVEPOINT owner_change')
        await client.query(`ALTER SCHEMA ${schema} OWNER TO ${quoteIdent(prev.owner)}`).then(
          () => client.query('RELEASE SAVEPOINT owner_change'),
          () => client.query('ROLLBACK TO SAVEPOINT owner_change'),
        )
      }
      for (const item of prev.acl ?? []) {
        // aclitem text: grantee=privileges/grantor; empty grantee = PUBLIC.
        const m = /^("?)(.*)\1=([A-Za-z*]*)\/.*$/.exec(item)
        if (!m) continue
        const grantee = m[2] === '' ? 'PUBLIC' : quoteIdent(m[2]!.replace(/""/g, '"'))
        const privs = [...m[3]!.replace(/\*/g, '')].map((c) => PRIVILEGES[c]).filter(Boolean)
        if (privs.length) await client.query(`GRANT ${privs.join(', ')} ON SCHEMA ${schema} TO ${grantee}`)
      }
    }
    const runner = new ScriptRunner(client, { ...opts, logger, openWatcher: () => connect(opts.url, { applicationName: 'wateen-migrate-watch' }) })
    const loss = await runner.unit('The reset', async () => {
      await client.query('BEGIN')
      try {
        await runner.restore()
        const { report } = await runMeasured(client, target.schema, dropAndRecreate)
        const refused = opts.dryRun ? undefined : refusal(report, opts, 'reset')
        if (opts.dryRun || refused) {
          await client.query('ROLLBACK')
          if (refused) throw refused
          return report
        }
        await client.query('COMMIT')
        return report
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw err
      }
    })
    if (opts.dryRun) return { schema: target.schema, loss, deploy: undefined }
    logger.info(`Dropped: schema ${target.schema} (all tables and data)`)
    return { schema: target.schema, loss, deploy: await deployLocked(conn, local, opts, logger) }
  })
}
