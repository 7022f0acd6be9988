// Type tests, checked by `npm run typecheck` (CI) and never run: each
// `@ts-expect-error` pins a misuse the generated client and the api must reject.
// If a TypeScript or Prisma upgrade stops catching one, tsc reports the directive
// as unused (TS2578) and CI fails. One misuse per line, so each directive covers
// exactly one error. The correct calls beside them prove the errors are the misuse.
import { type ApiDb, createApi, type WatifyApi } from '../../src/api/index.ts'
import { UniquenessError, WatifyError } from '../../src/domain/errors.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'

declare const prisma: PrismaClient
declare const api: WatifyApi

export async function createData(): Promise<void> {
  await prisma.subscriber.create({ data: { phone: '+14155550100' } })
  // @ts-expect-error unknown field in create data
  await prisma.subscriber.create({ data: { phone: '+14155550100', bogusField: 1 } })
  // @ts-expect-error wrong enum value
  await prisma.subscriber.create({ data: { phone: '+14155550100', optStatus: 'SUBSCRIBED' } })
  // @ts-expect-error missing required field (phone)
  await prisma.subscriber.create({ data: { name: 'No phone' } })
  // @ts-expect-error wrong type for a field
  await prisma.subscriber.create({ data: { phone: 14155550100 } })
  // @ts-expect-error unknown field in createMany data
  await prisma.subscriber.createMany({ data: [{ phone: '+14155550100', bogusField: 1 }] })
}

export async function updateData(): Promise<void> {
  await prisma.subscriber.update({ where: { id: 1 }, data: { name: 'x' } })
  // @ts-expect-error unknown field in update data
  await prisma.subscriber.update({ where: { id: 1 }, data: { bogusField: 1 } })
  // @ts-expect-error unknown field in updateMany data
  await prisma.subscriber.updateMany({ where: { id: 1 }, data: { name: 'x', bogusField: 1 } })
  // @ts-expect-error unknown field in upsert create
  await prisma.subscriber.upsert({ where: { id: 1 }, create: { phone: '+1', bogusField: 1 }, update: {} })
  // @ts-expect-error wrong enum value in update
  await prisma.user.update({ where: { id: 1 }, data: { role: 'OWNER' } })
}

export async function whereAndSelect(): Promise<void> {
  await prisma.subscriber.findMany({ where: { optStatus: 'OPTED_IN' }, select: { id: true } })
  // @ts-expect-error unknown field in where
  await prisma.subscriber.findMany({ where: { bogusField: 1 } })
  // @ts-expect-error wrong enum value in where
  await prisma.subscriber.findMany({ where: { optStatus: 'SUBSCRIBED' } })
  // @ts-expect-error unknown field in select
  await prisma.subscriber.findMany({ select: { bogusField: true } })
  const rows = await prisma.subscriber.findMany({ select: { id: true } })
  // @ts-expect-error a field not selected is not on the result
  void rows[0]?.phone
}

export async function apiArguments(): Promise<void> {
  await api.fanOutCampaign(1)
  await api.recordDeliveryStatus('wamid.1', 'DELIVERED', new Date())
  await api.importSubscribers([{ phone: '+14155550100' }])
  // @ts-expect-error wrong argument type (campaign id is a number)
  await api.fanOutCampaign('1')
  // @ts-expect-error not a delivery status
  await api.recordDeliveryStatus('wamid.1', 'BOUNCED', new Date())
  // @ts-expect-error missing argument (the time of the status)
  await api.recordDeliveryStatus('wamid.1', 'DELIVERED')
  // @ts-expect-error unknown field in an import row
  await api.importSubscribers([{ phone: '+14155550100', bogusField: 1 }])
  // @ts-expect-error import row without its phone
  await api.importSubscribers([{ name: 'No phone' }])
}

declare const db: ApiDb

export function apiOptionsAndErrors(err: unknown): void {
  createApi(db, { coalesce: false, defaultPhoneRegion: 'PK' })
  createApi(db, { coalesce: { maxBatch: 100, maxInFlight: 1 } })
  // @ts-expect-error coalesce takes options or false
  createApi(db, { coalesce: true })
  // @ts-expect-error unknown coalesce option
  createApi(db, { coalesce: { lingerMs: 5 } })
  if (err instanceof UniquenessError) {
    const fields: readonly string[] = err.fields
    const rule: string = err.rule
    void [fields, rule]
    // @ts-expect-error fields are read-only
    err.fields.push('email')
  }
  if (err instanceof WatifyError) {
    // @ts-expect-error the rule is read-only
    err.rule = 'other'
  }
}
