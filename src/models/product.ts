import { z } from 'zod'
import { customFieldSchema } from './customer.ts'

// Unknown keys are stripped, as for customers (see customer.ts).
const price = z.number().nonnegative().nullish()
const quantity = z.number().int().nullish()

export const productSchema = z.object({
  // Indexed: a btree entry holds at most ~2.7 KB.
  sku: z.string().min(1).max(255),
  name: z.string().min(1),
  description: z.string().nullish(),
  price,
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be a 3-letter upper-case currency code').nullish(),
  // Stock may go negative (back-orders), so only integrality is checked.
  quantity,
  variants: z.array(z.object({
    sku: z.string().min(1),
    name: z.string().nullish(),
    price,
    quantity
  })).nullish(),
  custom_fields: z.array(customFieldSchema).nullish()
})

export type Product = z.output<typeof productSchema>
