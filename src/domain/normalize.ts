// Input normalised at the boundary: what the database stores is one canonical form, so the
// backend may pass any accepted form and a lookup by any of them finds the row.
//  - emails (User.email): trimmed and lower-cased (the CHECK users_email_normalized_check);
//  - phones (Subscriber.phone): E.164 (subscribers_phone_e164_check), parsed with
//    libphonenumber-js; a national number (`0300 1234567`) needs a default region.
// Applied to create, update, upsert, createMany and `where` (also nested writes and the
// `where` of included relations: Prisma's query extensions only see the top-level args,
// prisma/prisma#24525, so the args are walked here along every relation of the schema),
// and to api.importSubscribers. What cannot be normalised throws a ValidationError naming
// the field before any query is sent.
import { type CountryCode, getCountries, parsePhoneNumberFromString } from 'libphonenumber-js'

import { normalizeEmail } from '../password.ts'
import { ValidationError } from './errors.ts'
import { DATABASE_RULES } from './rules.ts'

export interface NormalizeOptions {
  /**
   * ISO 3166 region (e.g. `PK`, `EG`) for phone numbers written without `+` and country code.
   * Default: WATIFY_DEFAULT_PHONE_REGION (src/client.ts); none means such numbers are refused.
   */
  defaultPhoneRegion?: string
}

const E164 = /^\+[1-9][0-9]{7,14}$/
// The format CHECK of 007 (users_email_format_check), checked before the query so the
// error names the field without a round trip.
const EMAIL_FORMAT = /^[^@\s]+@[^@\s]+\.[^@\s]+$/

const COUNTRIES = new Set<string>(getCountries())

/** Checks a region code once, where it is configured (a typo must not surface as every phone failing). */
export function checkPhoneRegion(region: string | undefined): CountryCode | undefined {
  if (region === undefined || region === '') return undefined
  const r = region.toUpperCase()
  if (!COUNTRIES.has(r)) {
    throw new ValidationError(`default phone region \`${region}\` is not an ISO 3166 region code libphonenumber-js knows`, {
      rule: 'phone_region',
      fields: ['defaultPhoneRegion'],
      hint: 'Set WATIFY_DEFAULT_PHONE_REGION (or defaultPhoneRegion) to a two-letter region such as PK, EG or US, or leave it unset.',
    })
  }
  return r as CountryCode
}

/**
 * A phone number in E.164 (`+923001234567`). Input already in E.164 form (`+` and 8-15
 * digits) is what the database stores and is returned as is, without parsing (the bulk
 * import's hot path); anything else (spaces, dashes, brackets, `00` prefix, national
 * numbers with a default region) goes through libphonenumber-js.
 */
export function normalizePhone(value: string, region?: CountryCode, where = 'phone'): string {
  if (E164.test(value)) return value
  const parsed = typeof value === 'string' ? parsePhoneNumberFromString(value, region) : undefined
  if (parsed && E164.test(parsed.number)) return parsed.number
  throw new ValidationError(`${where}: \`${String(value)}\` is not a phone number that can be written in E.164`, {
    rule: 'subscribers_phone_e164_check',
    fields: ['phone'],
    table: 'subscribers',
    hint: region
      ? 'Pass the number with its country code (e.g. `+92 300 1234567`) or as a national number of the default region.'
      : 'Pass the number with `+` and its country code (e.g. `+92 300 1234567`), or set WATIFY_DEFAULT_PHONE_REGION for national numbers.',
  })
}

/** An email as stored: trimmed and lower-cased; `checkFormat` refuses what the format CHECK would. */
export function normalizeEmailValue(value: string, checkFormat: boolean): string {
  const email = normalizeEmail(value)
  if (checkFormat && !EMAIL_FORMAT.test(email)) {
    const rule = DATABASE_RULES.users_email_format_check!
    throw new ValidationError(`email: \`${value}\` is not an email address`, {
      rule: 'users_email_format_check',
      fields: rule.fields,
      table: rule.table,
      hint: 'Pass an address of the form name@domain.tld.',
    })
  }
  return email
}

// ---------------------------------------------------------------------------
// Walking Prisma's arguments

/** Every relation field of prisma/schema.prisma and the model it leads to (checked against the schema by test/domain-normalize.test.ts). */
export const RELATIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  User: { adminOfGroups: 'GroupAdmin', campaigns: 'Campaign', sentMessages: 'Message' },
  WhatsappGroup: { admins: 'GroupAdmin', members: 'GroupMember', messages: 'Message', campaignTargets: 'CampaignGroup' },
  GroupAdmin: { group: 'WhatsappGroup', user: 'User' },
  Subscriber: { groups: 'GroupMember', messages: 'Message' },
  GroupMember: { group: 'WhatsappGroup', subscriber: 'Subscriber' },
  Message: { subscriber: 'Subscriber', campaign: 'Campaign', group: 'WhatsappGroup', senderUser: 'User' },
  Campaign: { owner: 'User', targetGroups: 'CampaignGroup', messages: 'Message', counterShards: 'CampaignCounterShard' },
  CampaignGroup: { campaign: 'Campaign', group: 'WhatsappGroup' },
  CampaignCounterShard: { campaign: 'Campaign' },
}

/** The fields normalised, per model. */
const NORMALIZED: Readonly<Record<string, Readonly<Record<string, 'email' | 'phone'>>>> = {
  User: { email: 'email' },
  Subscriber: { phone: 'phone' },
}

type Args = Record<string, unknown>
const isPlain = (v: unknown): v is Args => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)

/** Copy-on-write: `fn` returns the same object when nothing changed, so unchanged args are not copied. */
function mapKeys(obj: Args, fn: (key: string, value: unknown) => unknown): Args {
  let out: Args | null = null
  for (const key of Object.keys(obj)) {
    const v = obj[key]
    const nv = fn(key, v)
    if (nv !== v) (out ??= { ...obj })[key] = nv
  }
  return out ?? obj
}

const each = (v: unknown, fn: (x: unknown) => unknown): unknown => (Array.isArray(v) ? (v.some((x) => fn(x) !== x) ? v.map(fn) : v) : fn(v))

/** Binds the walkers to one configuration. */
export class ArgsNormalizer {
  readonly region: CountryCode | undefined
  constructor(opts: NormalizeOptions = {}) {
    this.region = checkPhoneRegion(opts.defaultPhoneRegion)
  }

  private value(kind: 'email' | 'phone', v: unknown, write: boolean): unknown {
    if (typeof v !== 'string') return v
    return kind === 'email' ? normalizeEmailValue(v, write) : normalizePhone(v, this.region)
  }

  /** A scalar filter on a normalised field: `'x'` or `{ equals, in, notIn, not, contains, ... }`. */
  private filter(kind: 'email' | 'phone', f: unknown): unknown {
    if (typeof f === 'string') return this.value(kind, f, false)
    if (!isPlain(f)) return f
    return mapKeys(f, (op, v) => {
      switch (op) {
        case 'equals':
          return this.value(kind, v, false)
        case 'in':
        case 'notIn':
          return Array.isArray(v) ? v.map((x) => this.value(kind, x, false)) : v
        case 'not':
          return this.filter(kind, v)
        case 'contains':
        case 'startsWith':
        case 'endsWith':
          // A fragment of an email is lower-cased (stored emails are); a phone fragment is not a number.
          return kind === 'email' && typeof v === 'string' ? v.toLowerCase() : v
        default:
          return v
      }
    })
  }

  /** A WhereInput (or WhereUniqueInput) of `model`. */
  where(model: string, w: unknown): unknown {
    if (!isPlain(w)) return w
    const norm = NORMALIZED[model]
    const rel = RELATIONS[model] ?? {}
    return mapKeys(w, (key, v) => {
      if (key === 'AND' || key === 'OR' || key === 'NOT') return each(v, (x) => this.where(model, x))
      const kind = norm?.[key]
      if (kind) return this.filter(kind, v)
      const target = rel[key]
      if (!target || !isPlain(v)) return v
      // Relation filters: { some, every, none } (to-many), { is, isNot } or a WhereInput (to-one).
      const ops = ['some', 'every', 'none', 'is', 'isNot']
      if (Object.keys(v).some((k) => ops.includes(k))) return mapKeys(v, (op, x) => (ops.includes(op) ? this.where(target, x) : x))
      return this.where(target, v)
    })
  }

  /** create/update data of `model`, with its nested writes. */
  data(model: string, d: unknown): unknown {
    if (Array.isArray(d)) return each(d, (x) => this.data(model, x))
    if (!isPlain(d)) return d
    const norm = NORMALIZED[model]
    const rel = RELATIONS[model] ?? {}
    return mapKeys(d, (key, v) => {
      const kind = norm?.[key]
      if (kind) return isPlain(v) ? mapKeys(v, (op, x) => (op === 'set' ? this.value(kind, x, true) : x)) : this.value(kind, v, true)
      const target = rel[key]
      return target && isPlain(v) ? this.nested(target, v) : v
    })
  }

  /** The nested-write operations on a relation field leading to `model`. */
  private nested(model: string, ops: Args): Args {
    const w = (x: unknown) => this.where(model, x)
    const d = (x: unknown) => this.data(model, x)
    return mapKeys(ops, (op, v) => {
      switch (op) {
        case 'create':
          return d(v)
        case 'createMany':
          return isPlain(v) ? mapKeys(v, (k, x) => (k === 'data' ? d(x) : x)) : v
        case 'connect':
        case 'set':
        case 'disconnect':
        case 'delete':
        case 'deleteMany':
          return typeof v === 'boolean' ? v : each(v, w)
        case 'connectOrCreate':
          return each(v, (x) => (isPlain(x) ? mapKeys(x, (k, y) => (k === 'where' ? w(y) : k === 'create' ? d(y) : y)) : x))
        case 'upsert':
          return each(v, (x) => (isPlain(x) ? mapKeys(x, (k, y) => (k === 'where' ? w(y) : k === 'create' || k === 'update' ? d(y) : y)) : x))
        case 'update':
        case 'updateMany':
          // { where, data } (to-many, and to-one with a filter), or the data itself (to-one).
          return each(v, (x) =>
            isPlain(x) && 'data' in x && Object.keys(x).every((k) => k === 'where' || k === 'data') ? mapKeys(x, (k, y) => (k === 'where' ? w(y) : d(y))) : d(x),
          )
        default:
          return v
      }
    })
  }

  /** `select` / `include` trees: the `where` of included relations (and of `_count`). */
  private selection(model: string, sel: unknown): unknown {
    if (!isPlain(sel)) return sel
    const rel = RELATIONS[model] ?? {}
    return mapKeys(sel, (key, v) => {
      if (key === '_count' && isPlain(v) && isPlain(v.select)) {
        return mapKeys(v, (k, s) => (k === 'select' && isPlain(s) ? mapKeys(s, (r, x) => (rel[r] && isPlain(x) ? this.readArgs(rel[r]!, x) : x)) : s))
      }
      const target = rel[key]
      return target && isPlain(v) ? this.readArgs(target, v) : v
    })
  }

  private readArgs(model: string, a: Args): Args {
    return mapKeys(a, (k, v) => (k === 'where' || k === 'cursor' ? this.where(model, v) : k === 'select' || k === 'include' ? this.selection(model, v) : v))
  }

  /** The args of a top-level model operation, normalised. */
  args(model: string, operation: string, args: unknown): unknown {
    if (!isPlain(args)) return args
    return mapKeys(args, (k, v) => {
      switch (k) {
        case 'where':
        case 'cursor':
          return this.where(model, v)
        case 'data':
          return this.data(model, v)
        case 'create':
        case 'update':
          return operation === 'upsert' ? this.data(model, v) : v
        case 'select':
        case 'include':
          return this.selection(model, v)
        default:
          return v
      }
    })
  }
}
