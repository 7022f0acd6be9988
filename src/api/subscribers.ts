// Subscriber hot paths: bulk import and audience size.
import { checkPhoneRegion, normalizePhone } from '../domain/normalize.ts'
import { ValidationError } from '../domain/errors.ts'
import type { ConsentMethod } from '../generated/prisma/enums.ts'
import { ApiInputError, type ApiDb, type Executor, executorFor, type Statement, toDbEnum } from './executor.ts'

export interface ImportSubscriberRow {
  /**
   * Any form libphonenumber-js reads (`+92 300 1234567`, `0092...`, a national number with
   * `defaultPhoneRegion`); stored in E.164 (`+923001234567`). E.164 input is taken as is.
   */
  phone: string
  name?: string | null
  tags?: readonly string[]
  /** Custom fields for template variables; merged into existing ones on re-import. */
  attributes?: Record<string, unknown>
  /** Consent collected elsewhere: opts the subscriber in (only if they are new or still pending). */
  optIn?: { at: Date; method?: ConsentMethod }
}

export interface ImportResult {
  /** New subscribers. */
  inserted: number
  /** Existing subscribers whose name, tags, attributes or consent changed. */
  updated: number
  /** Existing subscribers the import left as they were (and duplicate phones within the input). */
  unchanged: number
}

// Column separator and NULL marker of the packed columns (see packColumns). Both
// are ASCII control characters no phone, name, tag or JSON text may contain.
const SEP = '\x1f'
const NUL = '\x1e'
const FORBIDDEN = /[\x00\x1e\x1f]/

/**
 * Default rows per statement. Each statement sends six strings (~100 bytes a row), so
 * the limit only bounds the memory of one statement; all chunks commit together.
 */
export const IMPORT_CHUNK_ROWS = 100_000

// Why packed text columns and not `unnest($1::text[], ...)`: node-postgres
// serializes a JS array element by element (escaping each one), which cost more
// than the INSERT itself (~0.6 s per 100k-element array here); one joined string
// per column is split server-side by string_to_array in a few milliseconds.
// ON CONFLICT: tags and attributes merge, a given name replaces the old one,
// consent only moves pending -> opted_in (an opted-out person is never re-opted-in
// by an import). Rows that would not change are not rewritten.
export const importSubscribersStatement: Statement = {
  name: 'watify_import_subscribers_v1',
  text: `
WITH input AS (
  SELECT phone, name, tags::text[] AS tags, attributes::jsonb AS attributes,
         opted_in_at::timestamptz AS opted_in_at, opt_in_method::consent_method AS opt_in_method
    FROM unnest(string_to_array($1::text, E'\\x1f', E'\\x1e'),
                string_to_array($2::text, E'\\x1f', E'\\x1e'),
                string_to_array($3::text, E'\\x1f', E'\\x1e'),
                string_to_array($4::text, E'\\x1f', E'\\x1e'),
                string_to_array($5::text, E'\\x1f', E'\\x1e'),
                string_to_array($6::text, E'\\x1f', E'\\x1e'))
         AS u(phone, name, tags, attributes, opted_in_at, opt_in_method)
), written AS (
  INSERT INTO subscribers AS s (phone, name, tags, attributes, opt_status, opted_in_at, opt_in_method)
  SELECT phone, name, tags, attributes,
         CASE WHEN opted_in_at IS NULL THEN 'pending' ELSE 'opted_in' END::opt_status,
         opted_in_at, opt_in_method
    FROM input
  ON CONFLICT (phone) DO UPDATE SET
    name = coalesce(EXCLUDED.name, s.name),
    tags = ARRAY(SELECT t FROM unnest(s.tags || EXCLUDED.tags) WITH ORDINALITY AS x(t, o) GROUP BY t ORDER BY min(o)),
    attributes = s.attributes || EXCLUDED.attributes,
    opt_status = CASE WHEN s.opt_status = 'pending' THEN EXCLUDED.opt_status ELSE s.opt_status END,
    opted_in_at = CASE WHEN s.opt_status = 'pending' THEN EXCLUDED.opted_in_at ELSE s.opted_in_at END,
    opt_in_method = CASE WHEN s.opt_status = 'pending' THEN EXCLUDED.opt_in_method ELSE s.opt_in_method END
  WHERE EXCLUDED.name IS DISTINCT FROM s.name AND EXCLUDED.name IS NOT NULL
     OR NOT (s.tags @> EXCLUDED.tags)
     OR NOT (s.attributes @> EXCLUDED.attributes)
     OR (s.opt_status = 'pending' AND EXCLUDED.opt_status = 'opted_in')
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM written`,
}

/** The six packed columns of importSubscribersStatement, for rows already validated and de-duplicated. */
export function packImportColumns(rows: readonly ImportSubscriberRow[]): string[] {
  const phone: string[] = []
  const name: string[] = []
  const tags: string[] = []
  const attributes: string[] = []
  const optedInAt: string[] = []
  const method: string[] = []
  for (const r of rows) {
    phone.push(r.phone)
    name.push(r.name == null || r.name === '' ? NUL : r.name)
    tags.push(arrayLiteral(r.tags ?? []))
    // JSON.stringify escapes every control character, so SEP/NUL cannot appear in it.
    attributes.push(JSON.stringify(r.attributes ?? {}))
    optedInAt.push(r.optIn ? r.optIn.at.toISOString() : NUL)
    method.push(r.optIn ? toDbEnum(r.optIn.method ?? 'IMPORT') : NUL)
  }
  // No element is ever '' (name '' becomes NULL), so the split gives back exactly rows.length elements.
  return [phone, name, tags, attributes, optedInAt, method].map((c) => c.join(SEP))
}

/** A PostgreSQL array literal: every element double-quoted, `"` and `\` escaped. */
function arrayLiteral(values: readonly string[]): string {
  let out = '{'
  for (let i = 0; i < values.length; i++) {
    if (i) out += ','
    const v = values[i]!
    // Most tags need no escaping; skip the regex for them (this runs once per tag per row).
    out += '"' + (v.includes('"') || v.includes('\\') ? v.replace(/[\\"]/g, '\\$&') : v) + '"'
  }
  return out + '}'
}

/**
 * Checks every row before anything is sent (so a bad row 90,000 changes nothing) and
 * merges duplicate phones in the input the way the database merges re-imports.
 * Returns the rows to send and how many input rows were folded into earlier ones.
 */
export function prepareImportRows(rows: readonly ImportSubscriberRow[], opts: { defaultPhoneRegion?: string } = {}): { rows: ImportSubscriberRow[]; duplicates: number } {
  const byPhone = new Map<string, ImportSubscriberRow>()
  const region = checkPhoneRegion(opts.defaultPhoneRegion)
  rows.forEach((input, i) => {
    const where = `importSubscribers: row ${i}`
    let phone: string | undefined
    try {
      phone = typeof input?.phone === 'string' ? normalizePhone(input.phone, region) : undefined
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err
    }
    if (phone === undefined) {
      throw new ApiInputError(
        `${where}: phone \`${String(input?.phone)}\` is not a phone number that can be written in E.164`,
        region ? 'Use the number with its country code (e.g. `+20 100 123 4567`) or a national number of the default region' : 'Use `+` followed by the country code and number, e.g. `+201001234567` (or set a default phone region for national numbers)',
        { rule: 'subscribers_phone_e164_check', fields: ['phone'], table: 'subscribers' },
      )
    }
    // Copied only when normalising changed the phone (the caller's rows are not modified).
    const r = phone === input.phone ? input : { ...input, phone }
    if (r.name != null && (typeof r.name !== 'string' || FORBIDDEN.test(r.name))) {
      throw new ApiInputError(`${where}: name contains a NUL or ASCII separator character`, 'Remove control characters \\x00, \\x1e and \\x1f from names')
    }
    for (const t of r.tags ?? []) {
      if (typeof t !== 'string' || t === '' || FORBIDDEN.test(t)) {
        throw new ApiInputError(`${where}: tag ${JSON.stringify(t)} is empty or contains a control separator`, 'Use non-empty tags without \\x00, \\x1e or \\x1f')
      }
    }
    if (r.attributes !== undefined && (r.attributes === null || typeof r.attributes !== 'object' || Array.isArray(r.attributes))) {
      throw new ApiInputError(`${where}: attributes must be a plain object`, 'Pass attributes as { key: value }')
    }
    if (r.optIn && !(r.optIn.at instanceof Date && !Number.isNaN(r.optIn.at.getTime()))) {
      throw new ApiInputError(`${where}: optIn.at is not a valid Date`, 'Pass the time consent was given as a Date')
    }
    const prev = byPhone.get(r.phone)
    if (!prev) {
      byPhone.set(r.phone, r) // not copied: only read, and merged into a new object below
      return
    }
    byPhone.set(r.phone, {
      phone: r.phone,
      name: r.name != null && r.name !== '' ? r.name : prev.name,
      tags: [...new Set([...(prev.tags ?? []), ...(r.tags ?? [])])],
      attributes: { ...prev.attributes, ...r.attributes },
      ...(prev.optIn ?? r.optIn ? { optIn: (prev.optIn ?? r.optIn)! } : {}),
    })
  })
  return { rows: [...byPhone.values()], duplicates: rows.length - byPhone.size }
}

/**
 * Inserts or merges subscribers by phone, all rows in one transaction (all or nothing).
 * New rows are `pending` unless `optIn` is given; see ImportSubscriberRow for the merge rules.
 */
export async function importSubscribers(db: ApiDb, rows: readonly ImportSubscriberRow[], opts: { chunkRows?: number; defaultPhoneRegion?: string } = {}): Promise<ImportResult> {
  const chunkRows = opts.chunkRows ?? IMPORT_CHUNK_ROWS
  if (!Number.isInteger(chunkRows) || chunkRows < 1) {
    throw new ApiInputError(`importSubscribers: chunkRows \`${chunkRows}\` is not a positive integer`, `Leave it out (default ${IMPORT_CHUNK_ROWS}) or pass a whole number`)
  }
  const { rows: unique, duplicates } = prepareImportRows(rows, opts)
  if (unique.length === 0) return { inserted: 0, updated: 0, unchanged: duplicates }
  const run = async (ex: Executor) => {
    let inserted = 0
    let updated = 0
    for (let start = 0; start < unique.length; start += chunkRows) {
      const chunk = unique.slice(start, start + chunkRows)
      const [r] = await ex.rows<{ inserted: number; updated: number }>(importSubscribersStatement, packImportColumns(chunk))
      inserted += r!.inserted
      updated += r!.updated
    }
    return { inserted, updated, unchanged: rows.length - inserted - updated }
  }
  const ex = executorFor(db)
  // One chunk is one statement, atomic by itself: no transaction round trips needed.
  return unique.length <= chunkRows ? run(ex) : ex.transaction(run)
}

// ---------------------------------------------------------------------------
// Audience size

/** Tags a subscriber must have all of, at least one of, and none of. Empty or missing parts do not filter. */
export interface TagExpression {
  all?: readonly string[]
  any?: readonly string[]
  none?: readonly string[]
}

function checkTags(part: string, tags: readonly string[] | undefined): string[] {
  if (tags === undefined) return []
  if (!Array.isArray(tags)) throw new ApiInputError(`audienceSize: \`${part}\` must be an array of tags`, `Pass e.g. { ${part}: ['vip'] }`)
  for (const t of tags) {
    if (typeof t !== 'string' || t === '') throw new ApiInputError(`audienceSize: \`${part}\` holds an empty or non-string tag`, 'Pass non-empty tag strings')
  }
  return [...tags]
}

// One statement per shape of the expression, so that each prepared plan matches
// its query: an empty `all` left in as `tags @> '{}'` would make the GIN index
// return every opted-in row. The partial GIN index on opted-in rows (007) serves them.
const audienceStatements = new Map<string, Statement>()

export function audienceStatement(hasAll: boolean, hasAny: boolean, hasNone: boolean): Statement {
  const key = `${+hasAll}${+hasAny}${+hasNone}`
  let stmt = audienceStatements.get(key)
  if (!stmt) {
    const where = [`opt_status = 'opted_in'`]
    if (hasAll) where.push('tags @> $1::text[]')
    if (hasAny) where.push('tags && $2::text[]')
    if (hasNone) where.push('NOT (tags && $3::text[])')
    // Unused parameters still get a type, so every shape takes the same three.
    const unused = [!hasAll && '$1::text[] IS NULL', !hasAny && '$2::text[] IS NULL', !hasNone && '$3::text[] IS NULL'].filter(Boolean)
    const keep = unused.length ? ` AND (true OR ${unused.join(' OR ')})` : ''
    stmt = { name: `watify_audience_size_${key}`, text: `SELECT count(*)::int AS n FROM subscribers WHERE ${where.join(' AND ')}${keep}` }
    audienceStatements.set(key, stmt)
  }
  return stmt
}

/** Number of opted-in subscribers matching the tag expression (the audience a campaign with it would reach). */
export async function audienceSize(db: ApiDb, expr: TagExpression): Promise<number> {
  const all = checkTags('all', expr.all)
  const any = checkTags('any', expr.any)
  const none = checkTags('none', expr.none)
  const [row] = await executorFor(db).read<{ n: number }>(audienceStatement(all.length > 0, any.length > 0, none.length > 0), [all, any, none])
  return row!.n
}
