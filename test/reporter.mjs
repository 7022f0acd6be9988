// `npm test`'s reporter: node's own TAP, unchanged (CI reads its closing
// `# tests / # pass / # fail / # skipped` lines), followed by a short summary
// that also counts what TAP leaves out: suites skipped as a whole, with why.
import path from 'node:path'
import { tap } from 'node:test/reporters'

export default async function* reporter(source) {
  const tests = { pass: 0, fail: 0, skip: 0, todo: 0 }
  const files = new Set()
  /** @type {{ kind: string, where: string, reason: string }[]} */
  const skipped = []
  const failed = []
  async function* watch() {
    for await (const event of source) {
      if (event.type === 'test:pass' || event.type === 'test:fail') {
        const d = event.data
        const file = d.file ? path.relative(process.cwd(), d.file) : ''
        if (file) files.add(file)
        const suite = d.details?.type === 'suite'
        // Each file is also reported as a test at nesting 0 when run in its own process.
        const fileLevel = d.nesting === 0 && file && d.name === d.file
        const where = `${file}${file && d.name !== d.file ? ' › ' : ''}${d.name === d.file ? '' : d.name}`
        if (d.skip !== undefined && d.skip !== false) {
          skipped.push({ kind: suite ? 'suite' : 'test', where, reason: typeof d.skip === 'string' ? d.skip : 'no reason given' })
          if (!suite) tests.skip++
        } else if (d.todo !== undefined && d.todo !== false) {
          if (!suite) tests.todo++
        } else if (!suite && !fileLevel) {
          if (event.type === 'test:pass') tests.pass++
          else {
            tests.fail++
            failed.push(where)
          }
        } else if (event.type === 'test:fail' && (fileLevel || suite) && !failed.some((f) => f.startsWith(where))) {
          failed.push(`${where} (${suite ? 'suite' : 'file'})`)
        }
      }
      yield event
    }
  }
  yield* tap(watch())
  const suites = skipped.filter((s) => s.kind === 'suite').length
  const lines = [
    `Summary: ${files.size} files; tests: ${tests.pass} passed, ${tests.fail} failed, ${tests.skip} skipped${tests.todo ? `, ${tests.todo} todo` : ''}; suites skipped: ${suites}`,
    ...skipped.map((s) => `  skipped ${s.kind}: ${s.where}: ${s.reason}`),
    ...failed.map((f) => `  FAILED: ${f}`),
  ]
  yield `${lines.map((l) => `# ${l}`).join('\n')}\n`
}
