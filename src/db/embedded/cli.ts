// The embedded server on its own, without the rest of the CLI (the tests use
// it to drive a private server; `npm run db:*` is the everyday way):
//   tsx src/db/embedded/cli.ts ensure   -> prints ONLY the URL (with its password) on stdout
//   tsx src/db/embedded/cli.ts stop     -> one line; exit 0
//   tsx src/db/embedded/cli.ts status   -> one line; exit 0 when running, 3 when not (like pg_ctl status)
// Progress lines and errors go to stderr; a failure exits 1, bad usage 2.
import { quietOnClosedPipe } from '../../cli/output.ts'
import { maskSecrets } from '../config.ts'
import { embeddedServerStatus, ensureEmbeddedServer, stopEmbeddedServer } from './ensure.ts'
import { displayPath } from './util.ts'

const USAGE = 'Usage: tsx src/db/embedded/cli.ts <ensure|stop|status>'

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (!command || rest.length > 0 || !['ensure', 'stop', 'status'].includes(command)) {
    process.stderr.write(`${command && !['ensure', 'stop', 'status'].includes(command) ? `! Unknown command \`${command}\`\n` : ''}${USAGE}\n`)
    return 2
  }
  if (command === 'ensure') {
    const server = await ensureEmbeddedServer({ log: (line) => process.stderr.write(`${line}\n`) })
    process.stdout.write(`${server.url}\n`)
    return 0
  }
  if (command === 'stop') {
    const { wasRunning } = await stopEmbeddedServer()
    process.stdout.write(wasRunning ? 'Embedded PostgreSQL stopped\n' : 'Embedded PostgreSQL was not running\n')
    return 0
  }
  const s = await embeddedServerStatus()
  const displayData = displayPath(s.dataDir)
  process.stdout.write(
    s.running
      ? `Embedded PostgreSQL is running on 127.0.0.1:${s.port} (pid ${s.pid}, data: ${displayData})\n`
      : `Embedded PostgreSQL is not running (port ${s.port}, data: ${displayData})\n`,
  )
  return s.running ? 0 : 3
}

quietOnClosedPipe(process.stdout, process.stderr)
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`Error: ${maskSecrets(err instanceof Error ? err.message : String(err))}\n`)
    process.exitCode = 1
  },
)
