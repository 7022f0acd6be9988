// Spots the DROP TABLE / DROP COLUMN statements of a down.sql for
// `rollback --dry-run`. The lexer itself lives in src/sql/split.ts.

export { positionToIndex, quoteIdent, quoteLiteral, splitStatements, statementAtPosition, type Statement } from '../sql/split.ts'
import { splitStatements } from '../sql/split.ts'

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
