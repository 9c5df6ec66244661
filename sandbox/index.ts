// Sandbox systems: real HTTP servers standing in for a shop, a CRM and an ERP.
export * from './fake-system.ts'
export type { CallFilter, CallRecord, FailOptions } from './faults.ts'
export * from './routes.ts'
export * from './store.ts'
export type { Action, EmitTarget, WebhookEvent } from './webhooks.ts'
export { startShop } from './shop.ts'
export type { Shop, ShopOptions } from './shop.ts'
export { startCrm } from './crm.ts'
export type { Crm, CrmOptions } from './crm.ts'
export { startErp } from './erp.ts'
export type { Erp, ErpOptions } from './erp.ts'
export { ledgerSystem, startLedger, startStockroom, stockroomSystem } from './pull-sources.ts'
export type { PullSource } from './pull-sources.ts'

import { startShop } from './shop.ts'
import type { Shop, ShopOptions } from './shop.ts'
import { startCrm } from './crm.ts'
import type { Crm, CrmOptions } from './crm.ts'
import { startErp } from './erp.ts'
import type { Erp, ErpOptions } from './erp.ts'

export interface Sandbox {
  shop: Shop
  crm: Crm
  erp: Erp
  close(): Promise<void>
}

export async function startSandbox(opts: { shop?: ShopOptions; crm?: CrmOptions; erp?: ErpOptions } = {}): Promise<Sandbox> {
  const started = await Promise.allSettled([startShop(opts.shop), startCrm(opts.crm), startErp(opts.erp)])
  const [shop, crm, erp] = started
  if (shop.status === 'rejected' || crm.status === 'rejected' || erp.status === 'rejected') {
    // don't leak the servers that did start (a port clash on one must not keep the others open)
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)))
    throw started.find((s): s is PromiseRejectedResult => s.status === 'rejected')!.reason
  }
  return {
    shop: shop.value,
    crm: crm.value,
    erp: erp.value,
    async close() {
      await Promise.all([shop.value.close(), crm.value.close(), erp.value.close()])
    },
  }
}
export { exampleEnv } from './example-env.ts'
