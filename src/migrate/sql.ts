// Just enough SQL lexing to (1) find which statement of a migration a
// PostgreSQL error position points into, (2) refuse transaction control in a
// script before it runs and (3) let the lint name the tables a statement
// touches. Migrations are still sent to the server whole, as one simple
// query. (What a rollback destroys is measured, not parsed: see loss.ts.)
// The lexer itself lives in src/sql/split.ts, shared with the engine stand-in.

export { positionToIndex, quoteIdent, quoteLiteral, runsOutsideTransaction, splitStatements, statementAtPosition, type Statement } from '../sql/split.ts'
import { splitStatements } from '../sql/split.ts'

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
