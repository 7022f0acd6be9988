// `schema-engine cli <command>`: what the Prisma CLI runs to check for and
// create the database before `migrate dev` / `db push`. Failures are reported
// the way the native engine does: JSON log lines on stderr with an error_code.
import { withDatabase } from '../db/url.ts'
import { quoteIdent } from '../sql/split.ts'
import { adminQuery, databaseName, withClient } from './adapter.ts'
import { userFacingError } from './errors.ts'

export async function runSubcommand(command: string, url: string | undefined): Promise<number> {
  try {
    if (!url) throw Object.assign(new Error('The datasource has no URL.'), { code: 'P1012' })
    switch (command) {
      case 'can-connect-to-database':
        await canConnect(url)
        return 0
      case 'create-database':
        await createDatabase(url)
        return 0
      case 'drop-database':
        await adminQuery(withDatabase(url, 'postgres'), `DROP DATABASE IF EXISTS ${quoteIdent(databaseName(url))} WITH (FORCE)`)
        return 0
      default:
        throw new Error(`Unknown command \`${command}\`.`)
    }
  } catch (error) {
    const e = userFacingError(error, url)
    // The CLI drops the first stderr line, then parses each other line as JSON.
    process.stderr.write('Schema engine error\n')
    const line = {
      timestamp: new Date().toISOString(),
      level: 'ERROR',
      fields: { message: e.message, ...(e.error_code ? { error_code: e.error_code } : {}) },
      target: 'schema_engine::logger',
    }
    process.stderr.write(JSON.stringify(line) + '\n')
    return 1
  }
}

async function canConnect(url: string): Promise<void> {
  await withClient(url, async () => {})
}

export async function createDatabase(url: string): Promise<string> {
  const name = databaseName(url)
  await adminQuery(withDatabase(url, 'postgres'), `CREATE DATABASE ${quoteIdent(name)}`)
  return name
}
