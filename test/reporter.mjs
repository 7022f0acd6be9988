// `npm test`'s reporter: node's own TAP, unchanged (CI reads its closing
// `# tests / # pass / # fail / # skipped` lines), followed by a short summary
// that also counts what TAP leaves out: suites skipped as a whole, with why.
// It is also the guard that no output of the suite (a test's own output, a
// failure's diff) shows a password of the servers the suite runs on: it masks
// any it finds and fails the run.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { tap } from 'node:test/reporters'

// A password in a URL to a server on this machine (the suite's servers all are): masked
// unless it already is. Made-up URLs in tests name other hosts.
const LOCAL_URL_PASSWORD = /(postgres(?:ql)?:\/\/[^:/?#@\s]*:)(?!\*\*\*\*@)[^@\s]+(@(?:127\.0\.0\.1|localhost|\[::1\])(?=[:/?\s]|$))/g

/** The passwords of the servers `npm test` uses: TEST_DATABASE_URL's, and the embedded server's (once it exists). */
function serverPasswords() {
  const found = []
  try {
    const pw = decodeURIComponent(new URL(process.env.TEST_DATABASE_URL ?? '').password)
    if (pw) found.push(pw)
  } catch {
    // no (valid) TEST_DATABASE_URL
  }
  const dataDir = path.resolve(process.env.WATIFY_EMBEDDED_DIR || path.join('.data', 'postgres'))
  try {
    const pw = readFileSync(path.join(dataDir, 'watify.password'), 'utf8').trim()
    if (pw) found.push(pw)
  } catch {
    // not created (yet), or not ours to read
  }
  // Short ones (`postgres`) would mask ordinary words: those are caught in URLs only.
  return [...new Set(found.flatMap((pw) => [pw, encodeURIComponent(pw)]))].filter((pw) => pw.length >= 10)
}

/** Masks passwords in `text`; counts what it masked. */
function guard() {
  let secrets = serverPasswords()
  let checked = Date.now()
  const state = { leaks: 0 }
  state.mask = (text) => {
    if (Date.now() - checked > 1000) {
      secrets = serverPasswords() // the embedded server may have been created meanwhile
      checked = Date.now()
    }
    let out = text.replace(LOCAL_URL_PASSWORD, (_, head, tail) => {
      state.leaks++
      return `${head}****${tail}`
    })
    for (const secret of secrets) {
      const parts = out.split(secret)
      state.leaks += parts.length - 1
      out = parts.join('****')
    }
    return out
  }
  return state
}

export default async function* reporter(source) {
  const tests = { pass: 0, fail: 0, skip: 0, todo: 0 }
  const files = new Set()
  /** @type {{ kind: string, where: string, reason: string }[]} */
  const skipped = []
  const failed = []
  /** Seconds per file: the sum of its top-level tests (what test/run.ts orders the next run by). */
  const seconds = {}
  async function* watch() {
    for await (const event of source) {
      if (event.type === 'test:pass' || event.type === 'test:fail') {
        const d = event.data
        const file = d.file ? path.relative(process.cwd(), d.file) : ''
        if (file) files.add(file)
        if (file && d.nesting === 0 && d.name !== d.file) seconds[file] = (seconds[file] ?? 0) + (d.details?.duration_ms ?? 0) / 1000
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
  const secrets = guard()
  for await (const chunk of tap(watch())) yield secrets.mask(chunk)
  const suites = skipped.filter((s) => s.kind === 'suite').length
  if (secrets.leaks > 0) {
    failed.push(`the output showed a password ${secrets.leaks} time(s), masked above as ****: assert on masked values (test/helpers/masked.ts)`)
    process.exitCode = 1
  }
  const slowest = Object.entries(seconds).sort((a, b) => b[1] - a[1])
  if (slowest.length > 1) {
    const record = path.join('test', '.tmp', 'durations.json')
    try {
      let known = {}
      try {
        known = JSON.parse(readFileSync(record, 'utf8'))
      } catch {
        // first run
      }
      mkdirSync(path.dirname(record), { recursive: true })
      writeFileSync(record, `${JSON.stringify({ ...known, ...Object.fromEntries(slowest) }, null, 1)}\n`)
    } catch {
      // not in a project folder: nothing to remember
    }
  }
  const lines = [
    `Summary: ${files.size} files; tests: ${tests.pass} passed, ${tests.fail} failed, ${tests.skip} skipped${tests.todo ? `, ${tests.todo} todo` : ''}; suites skipped: ${suites}`,
    ...skipped.map((s) => `  skipped ${s.kind}: ${s.where}: ${s.reason}`),
    ...(slowest.length > 1 ? [`  slowest files (s): ${slowest.slice(0, 5).map(([f, t]) => `${path.basename(f)} ${t.toFixed(0)}`).join(', ')}`] : []),
    ...failed.map((f) => `  FAILED: ${f}`),
  ]
  yield `${lines.map((l) => `# ${l}`).join('\n')}\n`
}
