// The typed client's boundary: one Prisma query extension that normalises the input of
// every model operation (src/domain/normalize.ts) and turns every database rule violation
// into a typed error (src/domain/errors.ts), for model operations and raw queries alike,
// inside interactive transactions too (the transaction client carries the extension).
import type { PrismaClient } from '../generated/prisma/client.ts'
import { rethrowAsWatifyError } from './errors.ts'
import { ArgsNormalizer, type NormalizeOptions } from './normalize.ts'

function dataFields(args: unknown): string[] | undefined {
  if (typeof args !== 'object' || args === null) return undefined
  const a = args as Record<string, unknown>
  const d = a.data ?? a.create ?? a.update
  const one = Array.isArray(d) ? d[0] : d
  return typeof one === 'object' && one !== null ? Object.keys(one) : undefined
}

/**
 * `prisma` with input normalisation and typed errors. A query-only extension: the client's
 * API and types are unchanged, so the result is typed as the PrismaClient it extends.
 */
export function withDomainRules(prisma: PrismaClient, opts: NormalizeOptions = {}): PrismaClient {
  const normalizer = new ArgsNormalizer(opts)
  return prisma.$extends({
    name: 'watify-domain',
    query: {
      async $allOperations({ model, operation, args, query }) {
        // Normalising may throw a ValidationError: before the query, nothing sent.
        const input = model ? normalizer.args(model, operation, args) : args
        try {
          return await query(input)
        } catch (err) {
          rethrowAsWatifyError(err, { model, dataFields: dataFields(input) })
        }
      },
    },
  }) as unknown as PrismaClient
}
