// The database client the backend imports: `import { prisma } from './client.ts'`.
//
// One PrismaClient over one pg pool (@prisma/adapter-pg), connected exactly as the CLI is:
// the URL comes from resolveDatabaseUrl() (DATABASE_URL, then .env, then the embedded
// server), and Prisma's `?schema=` is honoured both in generated queries (PrismaPg's
// `schema` option) and for raw SQL (the session's search_path).
// Outside production the instance is cached on globalThis, so reloading modules in
// development (tsx watch, test re-imports) does not open a new pool each time.
import { PrismaPg } from '@prisma/adapter-pg'

import { describeUrl, resolveDatabaseUrl } from './db/config.ts'
import { PrismaClient } from './generated/prisma/client.ts'

function searchPathOption(schema: string): string {
  // libpq-style `options`: spaces are escaped with a backslash; the name is quoted when it needs it.
  const ident = /^[a-z_][a-z0-9_$]*$/.test(schema) ? schema : `"${schema.replace(/"/g, '""')}"`
  return `-c search_path=${ident.replace(/\\/g, '\\\\').replace(/ /g, '\\ ')}`
}

async function createPrismaClient(): Promise<PrismaClient> {
  const { url } = await resolveDatabaseUrl()
  const { schema } = describeUrl(url)
  const adapter = new PrismaPg(
    { connectionString: url, ...(schema === 'public' ? {} : { options: searchPathOption(schema) }) },
    { schema },
  )
  return new PrismaClient({ adapter })
}

const globalForPrisma = globalThis as typeof globalThis & { __watifyPrisma?: PrismaClient }

export const prisma: PrismaClient = globalForPrisma.__watifyPrisma ?? (await createPrismaClient())

if (process.env.NODE_ENV !== 'production') globalForPrisma.__watifyPrisma = prisma
