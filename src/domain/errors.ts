// Typed domain errors: what the backend catches instead of SQLSTATEs and Prisma codes.
//
// Every rule the database enforces (src/domain/rules.ts) reaches the caller as one of the
// classes below, from the typed client (`prisma.*`, through the extension of
// src/domain/extension.ts) and from `api.*` (pg errors of the fast path, or Prisma's) alike:
//
//   WatifyError                  base class: `rule`, `fields`, `table`, `code` (SQLSTATE), `cause`
//   ├─ ValidationError           CHECK constraints, NOT NULL, values too long, input that
//   │                            cannot be normalised or is refused before any query
//   ├─ UniquenessError           UNIQUE constraints, unique indexes, primary keys (23505)
//   ├─ ReferenceViolationError   FOREIGN KEYs (23503): a referenced row is missing, or a
//   │                            row still referenced (RESTRICT) cannot be deleted
//   ├─ NotFoundError             the record an update/delete names does not exist (Prisma P2025)
//   └─ OptedOutError             WA001: a campaign message to an opted-out subscriber
//
// Mapping is by SQLSTATE and constraint name, never by the wording of a message. The one
// place the name is not a field of the error: Prisma's pg adapter keeps `constraint` only
// for unique and foreign-key errors; for a CHECK (23514) it passes the server's message,
// in which PostgreSQL quotes the constraint's identifier in every language, so the rule is
// the known rule name that appears there as a quoted identifier.
import { DATABASE_RULES, RAISED_CODES } from './rules.ts'

export interface WatifyErrorDetails {
  /** The rule's name: the constraint, index or raising function (e.g. `users_email_key`). */
  rule: string
  /** Prisma field names the rule involves (e.g. `['email']`). */
  fields: readonly string[]
  /** The table the rule belongs to, when known. */
  table?: string | null
  /** PostgreSQL's SQLSTATE (e.g. `23505`), or null for errors raised before any query. */
  code?: string | null
  /** What to do instead. */
  hint?: string
  /** The original error (pg, Prisma). */
  cause?: unknown
}

/** Base class of every domain error; `err.rule` and `err.fields` say which rule and which fields. */
export class WatifyError extends Error {
  readonly rule: string
  readonly fields: readonly string[]
  readonly table: string | null
  readonly code: string | null
  readonly hint: string | undefined
  constructor(message: string, details: WatifyErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = new.target.name
    this.rule = details.rule
    this.fields = details.fields
    this.table = details.table ?? null
    this.code = details.code ?? null
    this.hint = details.hint
  }
}

/** A value breaks a CHECK, NOT NULL or length rule, or could not be normalised (`fields` names it). */
export class ValidationError extends WatifyError {}
/** Another row already has this value (unique constraint, unique index or primary key). */
export class UniquenessError extends WatifyError {}
/** A foreign key: the referenced row does not exist, or a row still referenced cannot be deleted. */
export class ReferenceViolationError extends WatifyError {}
/** The record an update or delete names does not exist. */
export class NotFoundError extends WatifyError {}
/** WA001: an outbound campaign message to a subscriber who has opted out. */
export class OptedOutError extends WatifyError {}

type DomainErrorClass = new (message: string, details: WatifyErrorDetails) => WatifyError

const CLASS_BY_KIND = { check: ValidationError, unique: UniquenessError, foreign_key: ReferenceViolationError } as const

/** The class a rule of src/domain/rules.ts maps to (`undefined` for an unknown name). */
export function errorClassForRule(rule: string): DomainErrorClass | undefined {
  const info = DATABASE_RULES[rule]
  if (info) return CLASS_BY_KIND[info.kind]
  if (Object.values(RAISED_CODES).some((r) => r.rule === rule)) return OptedOutError
  return undefined
}

const camel = (column: string) => column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/** What a database error says, whichever layer it came through. */
interface DbErrorFacts {
  code: string
  constraint?: string
  table?: string
  column?: string
  /** Key columns, when the adapter gives them instead of the constraint's name. */
  columns?: string[]
  message: string
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null
}

// Names sorted longest first: `users_email_key` must not be found inside a longer name.
const RULE_NAMES = Object.keys(DATABASE_RULES).sort((a, b) => b.length - a.length)

/** The SQLSTATE and constraint of a pg error, or of a Prisma error wrapping one (meta.driverAdapterError.cause). */
function dbErrorFacts(err: unknown): DbErrorFacts | null {
  if (!isObject(err)) return null
  // pg's DatabaseError (the api's fast path, raw pool queries).
  if (typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) && typeof err.severity === 'string') {
    return {
      code: err.code,
      constraint: typeof err.constraint === 'string' ? err.constraint : undefined,
      table: typeof err.table === 'string' ? err.table : undefined,
      column: typeof err.column === 'string' ? err.column : undefined,
      message: String(err.message),
    }
  }
  // Prisma 7 with @prisma/adapter-pg: meta.driverAdapterError.cause (or a bare DriverAdapterError).
  const adapter = isObject(err.meta) && isObject(err.meta.driverAdapterError) ? err.meta.driverAdapterError : err.name === 'DriverAdapterError' ? err : null
  const cause = adapter && isObject(adapter.cause) ? adapter.cause : null
  if (cause && typeof cause.originalCode === 'string') {
    const c = isObject(cause.constraint) ? cause.constraint : {}
    const message = typeof cause.originalMessage === 'string' ? cause.originalMessage : String(err.message)
    let constraint = typeof c.index === 'string' ? c.index : undefined
    if (!constraint && (cause.originalCode === '23514' || cause.originalCode === '23P01')) {
      constraint = RULE_NAMES.find((name) => message.includes(`"${name}"`))
    }
    const columns = Array.isArray(c.fields) ? c.fields.map(String) : undefined
    return {
      code: cause.originalCode,
      constraint,
      table: typeof cause.table === 'string' ? cause.table : undefined,
      column: typeof cause.column === 'string' ? cause.column : columns?.length === 1 ? columns[0] : undefined,
      columns,
      message,
    }
  }
  return null
}

/** Context the typed client knows and the error does not: which model was being written with which data. */
export interface ErrorContext {
  model?: string
  /** Top-level fields of the data being written, if any. */
  dataFields?: readonly string[]
}

const HINTS: Record<string, string> = {
  ValidationError: 'Correct the value of the field(s) named in `fields`; the rule is in prisma/migrations (grep for its name).',
  UniquenessError: 'Another row already has this value: look it up and update it instead, or use a different value.',
  ReferenceViolationError: 'Create the referenced row first, or delete/detach the rows that still reference this one.',
  OptedOutError: 'Send campaign messages only to subscribers with optStatus OPTED_IN (api.fanOutCampaign selects them).',
}

function build(cls: DomainErrorClass, facts: { rule: string; fields: readonly string[]; table?: string | null; code: string; message: string }, cause: unknown): WatifyError {
  const fields = facts.fields.length ? ` (${facts.fields.join(', ')})` : ''
  return new cls(`${facts.rule}${fields}: ${facts.message}`, { rule: facts.rule, fields: facts.fields, table: facts.table, code: facts.code, hint: HINTS[cls.name], cause })
}

/**
 * The domain error for `err`, or `err` itself when it is no rule of the database (a
 * connection error, a syntax error, a WatifyError already). Never throws.
 */
export function toWatifyError(err: unknown, ctx: ErrorContext = {}): unknown {
  if (err instanceof WatifyError) return err
  if (isObject(err) && err.code === 'P2025' && typeof err.message === 'string') {
    const model = isObject(err.meta) && typeof err.meta.modelName === 'string' ? err.meta.modelName : (ctx.model ?? 'record')
    return new NotFoundError(`record_not_found: no ${model} matches the \`where\` of ${isObject(err.meta) && typeof err.meta.operation === 'string' ? err.meta.operation : 'the operation'}`, {
      rule: 'record_not_found',
      fields: [],
      code: null,
      hint: 'Look the record up first (findUnique) or use updateMany/deleteMany, which change nothing when nothing matches.',
      cause: err,
    })
  }
  const f = dbErrorFacts(err)
  if (!f) return err
  const raised = RAISED_CODES[f.code]
  if (raised) return build(OptedOutError, { ...raised, code: f.code, message: f.message }, err)
  // Without a name (the adapter sometimes gives the key's columns instead), the rule of that table with those columns.
  if (!f.constraint && f.columns?.length) {
    const fields = f.columns.map(camel).join()
    const kind = f.code === '23505' ? 'unique' : f.code === '23503' ? 'foreign_key' : 'check'
    f.constraint = Object.keys(DATABASE_RULES).find((name) => {
      const r = DATABASE_RULES[name]!
      return r.kind === kind && r.fields.join() === fields && (f.table === undefined || r.table === f.table)
    })
  }
  // A partition's copy of a rule (`messages_p2000000_pkey`) is the partitioned table's rule.
  const partitioned = f.constraint && !DATABASE_RULES[f.constraint] ? /^(\w+)_p\d+_(\w+)$/.exec(f.constraint) : null
  if (partitioned && DATABASE_RULES[`${partitioned[1]}_${partitioned[2]}`]) f.constraint = `${partitioned[1]}_${partitioned[2]}`
  const known = f.constraint ? DATABASE_RULES[f.constraint] : undefined
  const fromRule = (cls: DomainErrorClass) =>
    build(cls, { rule: f.constraint ?? `${f.table ?? 'unknown'}_rule`, fields: known?.fields ?? (f.column ? [camel(f.column)] : []), table: known?.table ?? f.table ?? null, code: f.code, message: f.message }, err)
  switch (f.code) {
    case '23514': // check_violation
    case '23P01': // exclusion_violation
      return fromRule(ValidationError)
    case '23505':
      return fromRule(UniquenessError)
    case '23503':
    case '23001': // restrict_violation
      return fromRule(ReferenceViolationError)
    case '23502': // not_null_violation: pg names the column and the table
      return build(ValidationError, { rule: f.table && f.column ? `${f.table}_${f.column}_not_null` : 'not_null', fields: f.column ? [camel(f.column)] : [], table: f.table ?? null, code: f.code, message: f.message }, err)
    case '22001': // string_data_right_truncation: a value longer than its varchar(n)
      return build(ValidationError, { rule: 'value_too_long', fields: f.column ? [camel(f.column)] : [], table: f.table ?? null, code: f.code, message: f.message }, err)
    case '22023': // invalid_parameter_value
      // campaigns_timezone_check evaluates `AT TIME ZONE timezone`: an unknown zone raises
      // 22023 before the CHECK can fail. Only a campaign write carrying `timezone` can meet it.
      if (ctx.model === 'Campaign' && ctx.dataFields?.includes('timezone')) {
        const rule = DATABASE_RULES.campaigns_timezone_check!
        return build(ValidationError, { rule: 'campaigns_timezone_check', fields: rule.fields, table: rule.table, code: f.code, message: f.message }, err)
      }
      return err
    default:
      return err
  }
}

/** Throws the domain error for `err` (see {@link toWatifyError}). */
export function rethrowAsWatifyError(err: unknown, ctx?: ErrorContext): never {
  throw toWatifyError(err, ctx)
}
