import { z } from 'zod'
import { addressSchema, customFieldSchema } from './customer.ts'
import { productSchema } from './product.ts'

export const orderStatuses = ['pending', 'paid', 'shipped', 'completed', 'cancelled', 'refunded'] as const

// Line prices and totals may be negative (discount lines, refunds), unlike catalogue prices.
const amount = z.number().nullish()

export const orderSchema = z.object({
  // Indexed: a btree entry holds at most ~2.7 KB.
  number: z.string().min(1).max(255),
  // Hub customer id or the source's own reference; resolving it is the importer's job.
  customer_id: z.string().nullish(),
  status: z.enum(orderStatuses).nullish(),
  currency: productSchema.shape.currency,
  lines: z.array(z.object({
    sku: z.string().nullish(),
    name: z.string().nullish(),
    quantity: z.number().int().positive(),
    price: amount
  })).nullish(),
  totals: z.object({ subtotal: amount, tax: amount, shipping: amount, total: amount }).nullish(),
  billing_address: addressSchema.nullish(),
  shipping_address: addressSchema.nullish(),
  custom_fields: z.array(customFieldSchema).nullish()
})

export type Order = z.output<typeof orderSchema>
