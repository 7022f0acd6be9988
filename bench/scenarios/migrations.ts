// g. Migration commands as child processes, against `npx prisma migrate status`.
import { type BenchContext, dropDatabase, median, recreateDatabase, runTimed, withDatabase } from '../harness.ts'

const MIGRATE_DB = 'watify_bench_migrate'
export { MIGRATE_DB }

export async function migrationCommands(ctx: BenchContext, serverUrl: string): Promise<void> {
  ctx.log('\ng. migration commands (CLI child processes, fresh database with all migrations applied)')
  const url = withDatabase(serverUrl, MIGRATE_DB)
  await recreateDatabase(serverUrl, MIGRATE_DB)
  const childEnv = { DATABASE_URL: url }
  const op = 'g. migrations'
  const deploy = await runTimed('npx', ['prisma', 'migrate', 'deploy'], childEnv)
  if (deploy.code !== 0) {
    ctx.log(`  ! npx prisma migrate deploy failed (exit ${deploy.code}); g not measured:\n${deploy.out}`)
    ctx.rows.push({ op, path: 'all', metric: 'wall ms', value: NaN, note: 'prisma migrate deploy failed' })
    return
  }
  const timeIt = async (label: string, cmds: Array<[string, string[]]>) => {
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      let total = 0
      for (const [cmd, args] of cmds) {
        const r = await runTimed(cmd, args, childEnv)
        if (r.code !== 0) {
          ctx.log(`  ! \`${cmd} ${args.join(' ')}\` exited ${r.code}:\n${r.out.trimEnd()}`)
          return null
        }
        total += r.ms
      }
      times.push(total)
    }
    const m = median(times)
    ctx.log(`  ${label}: median ${m.toFixed(0)} ms of ${times.map((t) => t.toFixed(0)).join(', ')}`)
    return m
  }
  const prisma = await timeIt('npx prisma migrate status', [['npx', ['prisma', 'migrate', 'status']]])
  const status = await timeIt('npm run migrate:status', [['npm', ['run', '--silent', 'migrate:status']]])
  const cycle = await timeIt('npm run migrate:rollback + npm run migrate', [
    ['npm', ['run', '--silent', 'migrate:rollback']],
    ['npm', ['run', '--silent', 'migrate']],
  ])
  for (const [p, v] of [
    ['npm run migrate:status', status],
    ['npm run migrate:rollback + npm run migrate (1 step)', cycle],
  ] as const) {
    if (v === null || prisma === null) {
      ctx.rows.push({ op, path: p, metric: 'wall ms', value: NaN, note: v === null ? 'command failed or missing' : 'prisma migrate status failed' })
      continue
    }
    const ratio = v / prisma
    ctx.rows.push({ op, path: p, metric: 'wall ms', value: v, raw: prisma, ratio, target: '<= 0.3x', ok: ratio <= 0.3, note: 'vs `npx prisma migrate status`' })
  }
  await dropDatabase(serverUrl, MIGRATE_DB)
}
