// The one SQL lexer of the project: splits a script into statements and finds
// the statement a server error position points into. Shared by the migration
// library and the engine stand-in, which share nothing else; scripts are still
// sent to the server whole, as one simple query.

export interface Statement {
  /** Offset (UTF-16 index) of the first character of the statement, comments before it excluded. */
  start: number
  /** Offset just past the terminating `;` (or the end of the text). */
  end: number
  /** The statement without leading comments/whitespace and without the `;`. */
  text: string
}

/**
 * Splits SQL at top-level semicolons, honouring quotes, dollar quotes (tagged
 * too), nested block comments, and SQL-standard function bodies
 * (`CREATE FUNCTION … BEGIN ATOMIC … END`, PostgreSQL 14+), whose inner `;`
 * end nothing. The body is found as psql finds it: in a statement that starts
 * `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, outside parentheses, BEGIN opens a
 * block, CASE inside one opens another, END closes one.
 */
export function splitStatements(sql: string): Statement[] {
  const out: Statement[] = []
  let codeStart = -1 // first non-space, non-comment character of the current statement
  let i = 0
  const n = sql.length
  // psql's heuristic state for the current statement: its first words, parentheses, BEGIN/CASE depth.
  let words: string[] = []
  let parenDepth = 0
  let beginDepth = 0
  const push = (end: number, stop: number): void => {
    if (codeStart >= 0) out.push({ start: codeStart, end, text: sql.slice(codeStart, stop).trim() })
    codeStart = -1
    words = []
    parenDepth = 0
    beginDepth = 0
  }
  const definesRoutine = (): boolean => {
    const [a, b, c, d] = words
    return a === 'create' && (b === 'function' || b === 'procedure' || (b === 'or' && c === 'replace' && (d === 'function' || d === 'procedure')))
  }
  while (i < n) {
    const c = sql[i]!
    const next = sql[i + 1]
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i)
      i = nl < 0 ? n : nl + 1
      continue
    }
    if (c === '/' && next === '*') {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2))
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2))
        else i++
      }
      continue
    }
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (codeStart < 0 && c !== ';') codeStart = i
    if (c === ';') {
      if (beginDepth > 0) {
        i++
        continue
      }
      push(i + 1, i)
      i++
      continue
    }
    if (/[A-Za-z_\u0080-\uffff]/.test(c) && !(i > 0 && /[\w$]/.test(sql[i - 1]!))) {
      const word = /^[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*/.exec(sql.slice(i, i + 128))![0]
      const lower = word.toLowerCase()
      if (words.length < 4) words.push(lower)
      if (parenDepth === 0 && definesRoutine()) {
        if (lower === 'begin') beginDepth++
        else if (lower === 'case' && beginDepth > 0) beginDepth++
        else if (lower === 'end' && beginDepth > 0) beginDepth--
      }
      // An E'…' string starts right after its E: leave the quote to the code below.
      i += word.length
      continue
    }
    if (c === '(') parenDepth++
    else if (c === ')' && parenDepth > 0) parenDepth--
    if (c === "'") {
      // E'...' strings allow backslash escapes; '' is an escaped quote everywhere.
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]!) && (i < 2 || !/[\w$]/.test(sql[i - 2]!))
      i++
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2
        else if (sql[i] === "'") {
          if (sql[i + 1] === "'") i += 2
          else break
        } else i++
      }
      i++
      continue
    }
    if (c === '"') {
      i++
      while (i < n) {
        if (sql[i] === '"') {
          if (sql[i + 1] === '"') i += 2
          else break
        } else i++
      }
      i++
      continue
    }
    if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64))
      // `$1` parameters and identifiers containing `$` are not dollar quotes.
      if (m && !(i > 0 && /[\w$]/.test(sql[i - 1]!))) {
        const tag = m[0]
        const close = sql.indexOf(tag, i + tag.length)
        i = close < 0 ? n : close + tag.length
        continue
      }
    }
    i++
  }
  push(n, n)
  return out
}

/** Converts PostgreSQL's 1-based character position (code points) to a UTF-16 index. */
export function positionToIndex(sql: string, position: number): number {
  let cp = 0
  let idx = 0
  while (idx < sql.length && cp < position - 1) {
    const code = sql.codePointAt(idx)!
    idx += code > 0xffff ? 2 : 1
    cp++
  }
  return idx
}

/** The statement a server error position (pg `error.position`) falls into, with its 1-based line number. */
export function statementAtPosition(sql: string, position: number): { text: string; line: number } | undefined {
  const idx = positionToIndex(sql, position)
  const stmts = splitStatements(sql)
  const hit = stmts.find((s) => idx >= s.start && idx < s.end) ?? stmts.find((s) => idx < s.end)
  if (!hit) return undefined
  return { text: hit.text, line: sql.slice(0, hit.start).split('\n').length }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`
}

/**
 * First line of a migration.sql / down.sql that must run outside a
 * transaction (CREATE/DROP INDEX CONCURRENTLY, ALTER TYPE … ADD VALUE on old
 * servers): its statements then run one by one, each committed on its own.
 * Shared by the migration library and the engine stand-in, so `npm run
 * migrate` and `npx prisma migrate deploy` run such a file the same way.
 */
export const NO_TRANSACTION_MARKER = '-- watify:no-transaction'

/** Does the script declare NO_TRANSACTION_MARKER on its first line? */
export function runsOutsideTransaction(sql: string): boolean {
  const first = sql.replace(/^\uFEFF/, '').split('\n', 1)[0]!.trim()
  return first === NO_TRANSACTION_MARKER || first.startsWith(`${NO_TRANSACTION_MARKER} `)
}
