// Users: one per role. Idempotent: upsert on the natural key (email).
import { hashPassword, normalizeEmail } from '../src/password.ts'
import type { PrismaClient, User, UserRole } from '../src/generated/prisma/client.ts'

export interface UserSeed {
  email: string
  name: string
  role: UserRole
  verified?: boolean
}

export const DEMO_USERS: readonly UserSeed[] = [
  { email: 'admin@watify.test', name: 'Amina Admin', role: 'ADMIN', verified: true },
  { email: 'manager@watify.test', name: 'Omar Manager', role: 'MANAGER', verified: true },
  { email: 'agent@watify.test', name: 'Sara Agent', role: 'AGENT' },
]

/** Development-only password for the seeded users; set SEED_USER_PASSWORD to choose another. */
function seedPassword(): string {
  return process.env.SEED_USER_PASSWORD || 'watify-dev-password'
}

export async function seedUsers(prisma: PrismaClient, users: readonly UserSeed[] = DEMO_USERS): Promise<User[]> {
  const out: User[] = []
  for (const u of users) {
    const email = normalizeEmail(u.email)
    const existing = await prisma.user.findUnique({ where: { email } })
    // Hash only for a new user: a second run must not change the stored hash.
    const passwordHash = existing ? existing.passwordHash : await hashPassword(seedPassword())
    out.push(
      await prisma.user.upsert({
        where: { email },
        create: { email, name: u.name, role: u.role, passwordHash, emailVerifiedAt: u.verified ? new Date('2025-01-01T00:00:00Z') : null },
        update: { name: u.name, role: u.role },
      }),
    )
  }
  return out
}
