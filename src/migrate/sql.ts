// Just enough SQL lexing to (1) find which statement of a migration a
// PostgreSQL error position points into, (2) refuse transaction control in a
// script before it runs and (3) let the lint name the tables a statement
// touches. Migrations are still sent to the server whole, as one simple
// query. (What a rollback destroys is measured, not parsed: see loss.ts.)

export interface Statement {
  /** Offset (UTF-16 index) of the first character of the statement, comments before it excluded. */
  start: number
  /** Offset just past the terminating `;` (or the end of the text). */
  end: number
  /** The statement without leading comments/whitespace and without the `;`. */
  text: string
}

/** Splits SQL at top-level semicolons, honouring quotes, dollar quotes and comments. */
export function splitStatements(sql: string): Statement[] {
  const out: Statement[] = []
  let codeStart = -1 // first non-space, non-comment character of the current statement
  let i = 0
  const n = sql.length
  const push = (end: number, stop: number): void => {
    if (codeStart >= 0) out.push({ start: codeStart, end, text: sql.slice(codeStart, stop).trim() })
    codeStart = -1
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
      push(i + 1, i)
      i++
      continue
    }
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

/** Statements that end, split or hand over the transaction a migration runs in. */
const TRANSACTION_CONTROL = /^(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i

export interface TransactionControl {
  /** 1-based line where the statement starts. */
  line: number
  statement: string
}

/**
 * Top-level transaction control in a script (not inside plpgsql bodies or
 * strings, which the splitter keeps whole). Our runner wraps each script in
 * its own transaction; a COMMIT or ROLLBACK inside would make what it reports
 * untrue.
 */
export function findTransactionControl(sql: string): TransactionControl[] {
  return splitStatements(sql)
    .filter((s) => TRANSACTION_CONTROL.test(s.text))
    .map((s) => ({ line: sql.slice(0, s.start).split('\n').length, statement: s.text.split('\n')[0]! }))
}

/**
 * True when every statement only drops or alters definitions, with no
 * statement that reads or writes rows or runs code (UPDATE, DELETE, INSERT,
 * TRUNCATE, DO, CALL, SELECT, COPY, ALTER … TYPE rewrites): such a script
 * costs milliseconds, whatever the size of the tables.
 */
export function isCatalogOnly(sql: string): boolean {
  return splitStatements(sql).every((s) => {
    const t = s.text.replace(/\s+/g, ' ')
    if (/^(DROP|COMMENT|GRANT|REVOKE) /i.test(t)) return true
    if (/^ALTER (INDEX|SEQUENCE|VIEW|FUNCTION|TRIGGER|TYPE) .* RENAME /i.test(t)) return true
    // ALTER TABLE with only DROP / RENAME actions (no ADD, TYPE, SET NOT NULL: those scan or rewrite).
    const alter = /^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?\S+ (.*)$/i.exec(t)
    return alter !== null && /^(DROP|RENAME)\b/i.test(alter[1]!) && !/\b(ADD|TYPE|SET)\b/i.test(alter[1]!)
  })
}

/** Removes comments so regular expressions see only code. */
function stripComments(text: string): string {
  return text.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ')
}

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`
const QNAME = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase()
}

export interface QualifiedName {
  schema?: string
  name: string
}

function parseQName(text: string): QualifiedName {
  const parts = [...text.matchAll(new RegExp(IDENT, 'g'))].map((m) => unquote(m[0]))
  return parts.length > 1 ? { schema: parts[0]!, name: parts[1]! } : { name: parts[0]! }
}

/** Splits at commas outside parentheses and quotes. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quote: string | null = null
  let cur = ''
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null
    } else if (ch === '"' || ch === "'") quote = ch
    else if (ch === '(') depth++
    else if (ch === ')') depth--
    else if (ch === ',' && depth === 0) {
      parts.push(cur)
      cur = ''
      continue
    }
    cur += ch
  }
  parts.push(cur)
  return parts.map((p) => p.trim()).filter(Boolean)
}

/**
 * The table a DDL statement works on: `ALTER TABLE t`, `CREATE [UNIQUE] INDEX [CONCURRENTLY] ... ON t`,
 * `CREATE TABLE t` (created: true). Undefined for anything else.
 */
export function statementTable(statement: string): { table: QualifiedName; created: boolean } | undefined {
  const text = stripComments(statement).replace(/\s+/g, ' ').trim()
  const alter = new RegExp(String.raw`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(${QNAME})`, 'i').exec(text)
  if (alter) return { table: parseQName(alter[1]!), created: false }
  const index = new RegExp(String.raw`^CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?(?:${IDENT} )?ON (?:ONLY )?(${QNAME})`, 'i').exec(text)
  if (index) return { table: parseQName(index[1]!), created: false }
  const create = new RegExp(String.raw`^CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?(${QNAME})`, 'i').exec(text)
  if (create) return { table: parseQName(create[1]!), created: true }
  return undefined
}

export type DataDrop = { kind: 'table'; table: QualifiedName } | { kind: 'column'; table: QualifiedName; column: string }

/** `DROP TABLE a, b` and `ALTER TABLE t DROP [COLUMN] c` statements of a script: what data they destroy. */
export function findDataDrops(sql: string): DataDrop[] {
  const drops: DataDrop[] = []
  for (const stmt of splitStatements(sql)) {
    const text = stripComments(stmt.text).replace(/\s+/g, ' ').trim()
    const dropTable = new RegExp(String.raw`^DROP TABLE (?:IF EXISTS )?(.+?)(?: (?:CASCADE|RESTRICT))?$`, 'i').exec(text)
    if (dropTable) {
      for (const name of splitTopLevel(dropTable[1]!)) {
        if (new RegExp(`^${QNAME}$`).test(name)) drops.push({ kind: 'table', table: parseQName(name) })
      }
      continue
    }
    const alter = new RegExp(String.raw`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(${QNAME}) (.+)$`, 'i').exec(text)
    if (!alter) continue
    const table = parseQName(alter[1]!)
    for (const action of splitTopLevel(alter[2]!)) {
      const m = new RegExp(String.raw`^DROP (COLUMN )?(?:IF EXISTS )?(${IDENT})`, 'i').exec(action)
      if (!m) continue
      // `DROP CONSTRAINT x` is not a column; without COLUMN the keyword decides.
      if (!m[1] && /^constraint$/i.test(m[2]!)) continue
      drops.push({ kind: 'column', table, column: unquote(m[2]!) })
    }
  }
  return drops
}
