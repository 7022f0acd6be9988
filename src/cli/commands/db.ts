import { describeUrl, findConfiguredUrl, maskUrl, usesNamedStatements } from '../../db/config.ts'
import { checkConnection } from '../../migrate/index.ts'
import { MIGRATIONS_DIR_OPTION, libOptions, type Command } from '../command.ts'
import { sourceText } from '../render.ts'

export const dbTestCommand: Command = {
  name: 'db:test',
  scriptNames: ['db:test'],
  summary: 'Connect to the database and report server, latency and whether migrations are up to date.',
  options: [MIGRATIONS_DIR_OPTION],
  examples: ['npm run db:test', 'DATABASE_URL=postgresql://app:secret@db:5432/app npm run db:test'],
  exitCodes: [['OK', 'connected'], 'UNREACHABLE', 'AUTH_FAILED', 'DATABASE_MISSING'],
  async run(ctx) {
    const db = await ctx.database()
    const c = await checkConnection(libOptions(ctx, db.url))
    ctx.out.out(`Connected: ${maskUrl(db.url)} (${sourceText(db)})`)
    ctx.out.out(`Server:     PostgreSQL ${c.serverVersion}`)
    ctx.out.out(`Database:   ${c.database} (schema ${c.schema})`)
    ctx.out.out(`User:       ${c.user}`)
    ctx.out.out(`Latency:    ${c.latencyMs}ms per round trip (connect ${c.connectMs}ms)`)
    const m = c.migrations
    if (!m) ctx.out.out(`Migrations: unknown (${c.migrationsError})`)
    else if (m.needsAttention) ctx.out.out(`Migrations: need attention: run \`npm run migrate:status\``)
    else if (m.counts.pending) ctx.out.out(`Migrations: ${m.counts.pending} pending of ${m.counts.pending + m.counts.applied}: run \`npm run migrate\``)
    else ctx.out.out(`Migrations: up to date (${m.counts.applied} applied)`)
    return 0
  },
}

export const dbConfigCommand: Command = {
  name: 'db:config',
  scriptNames: ['db:config'],
  summary: 'Show the effective database configuration (password masked); connects to nothing.',
  options: [],
  examples: ['npm run db:config'],
  async run(ctx) {
    const configured = findConfiguredUrl()
    if (!configured) {
      const { embeddedServerStatus, embeddedSettings } = await import('../../db/embedded/index.ts')
      const s = await embeddedServerStatus()
      const e = embeddedSettings()
      ctx.out.out('Source:   embedded PostgreSQL (no DATABASE_URL in the environment or .env)')
      ctx.out.out(`Status:   ${s.running ? `running (pid ${s.pid})` : 'stopped (starts on first use, or `npm run db:start`)'}`)
      ctx.out.out(`Host:     127.0.0.1`)
      ctx.out.out(`Port:     ${s.port}`)
      ctx.out.out(`Database: ${e.database}`)
      ctx.out.out(`User:     ${e.user}`)
      ctx.out.out(`Schema:   public`)
      ctx.out.out(`SSL:      disable`)
      ctx.out.out(`Password: generated, stored in the data directory (${e.dataDir})`)
      return 0
    }
    const i = describeUrl(configured.url)
    ctx.out.out(`Source:   ${sourceText(configured)}`)
    ctx.out.out(`URL:      ${maskUrl(configured.url)}`)
    ctx.out.out(`Host:     ${i.host}`)
    ctx.out.out(`Port:     ${i.port}`)
    ctx.out.out(`Database: ${i.database}`)
    ctx.out.out(`User:     ${i.user}`)
    ctx.out.out(`Schema:   ${i.schema}`)
    ctx.out.out(`SSL:      ${i.ssl}`)
    ctx.out.out(`Password: ${i.passwordSet ? 'set (hidden)' : 'not set'}`)
    ctx.out.out(`Client:   ${usesNamedStatements(configured.url) ? 'named prepared statements (direct connection)' : 'unnamed statements (pgbouncer=true: transaction pooler)'}`)
    const direct = findConfiguredUrl('schema')
    ctx.out.out(`Migrations: ${direct?.variable ? `${maskUrl(direct.url)} (${sourceText(direct)})` : 'same URL (set DIRECT_DATABASE_URL when DATABASE_URL goes through a pooler)'}`)
    return 0
  },
}

export const dbStartCommand: Command = {
  name: 'db:start',
  scriptNames: ['db:start'],
  summary: 'Start the embedded PostgreSQL server (kept running until `npm run db:stop`).',
  options: [],
  examples: ['npm run db:start'],
  async run(ctx) {
    const { ensureEmbeddedServer } = await import('../../db/embedded/index.ts')
    // The one command that restarts a server that runs but does not answer.
    const s = await ensureEmbeddedServer({ log: (line) => ctx.out.err(line), restartUnresponsive: true })
    ctx.out.out(`${s.startedNow ? 'Started' : 'Running'}: embedded PostgreSQL at ${maskUrl(s.url)}`)
    return 0
  },
}

export const dbStopCommand: Command = {
  name: 'db:stop',
  scriptNames: ['db:stop'],
  summary: 'Stop the embedded PostgreSQL server.',
  options: [],
  examples: ['npm run db:stop'],
  async run(ctx) {
    const { stopEmbeddedServer, embeddedServerStatus } = await import('../../db/embedded/index.ts')
    const { port } = await embeddedServerStatus()
    const { wasRunning } = await stopEmbeddedServer()
    ctx.out.out(wasRunning ? `Stopped: embedded PostgreSQL (port ${port})` : `Stopped: embedded PostgreSQL was not running (port ${port})`)
    return 0
  },
}
