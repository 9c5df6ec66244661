import { z } from 'zod'

// Canonical models strip unknown keys instead of rejecting them: sources routinely send
// extras (tracking GUIDs, their own ids), and what the hub stores, compares for changes and
// fans out must be exactly the canonical shape, so extras are dropped rather than kept.

/** An optional scalar a source may also send as null ("known to be empty"). */
const text = z.string().nullish()
const flag = z.boolean().nullish()

export const customFieldSchema = z.object({
  id: text,
  type: text,
  custom_field_name: z.string().min(1),
  // Sources store numbers and flags in custom fields as often as text; keep their type.
  value: z.union([z.string(), z.number(), z.boolean()]).nullish()
})

export const externalIdSchema = z.object({
  // Hub system ids are the config's string ids (not the numeric ids of seed 000).
  system_id: z.string().min(1),
  external_id: z.string().min(1),
  internal_id: text
})

const customFields = z.array(customFieldSchema).nullish()
const externalIds = z.array(externalIdSchema).nullish()

/** Shared with orders (billing and shipping addresses). */
export const addressSchema = z.object({
  id: text,
  type: text,
  phone_number: text,
  first_name: text,
  last_name: text,
  company: text,
  address_1: text,
  address_2: text,
  address_3: text,
  city: text,
  region: text,
  country: text,
  postal_code: text,
  is_primary_billing: flag,
  is_primary_shipping: flag,
  custom_fields: customFields,
  external_ids: externalIds
})

export const relationshipSchema = z.object({
  id: text,
  type: text,
  start_date: text,
  end_date: text,
  is_primary: flag,
  related_to_id: text,
  custom_fields: customFields,
  external_ids: externalIds
})

const identifying = ['customer_number', 'email_address', 'first_name', 'last_name', 'company'] as const
export const UNNAMED_CUSTOMER = `needs at least one of ${identifying.join(', ')}`
/** Whether a customer's data says who it is: the canonical model needs one of these fields. */
export const identifiesCustomer = (c: Record<string, unknown>) => identifying.some(k => c[k] != null && c[k] !== '')

export const customerSchema = z.object({
  // Indexed (the number, the folded email): a btree entry holds at most ~2.7 KB.
  customer_number: z.string().trim().max(255).nullish(),
  first_name: text,
  last_name: text,
  email_address: z.email().max(254).nullish(),
  company: text,
  comment: text,
  categories: z.array(z.object({ id: text, name: z.string().min(1) })).nullish(),
  addresses: z.array(addressSchema).nullish(),
  relationships: z.array(relationshipSchema).nullish(),
  custom_fields: customFields,
  external_ids: externalIds
}).refine(
  // An empty customer is almost always a mapping that matched nothing; storing it would
  // silently blank the record everywhere it fans out to.
  (c) => identifiesCustomer(c),
  { message: UNNAMED_CUSTOMER }
)

export type Customer = z.output<typeof customerSchema>
export type Address = z.output<typeof addressSchema>
export type CustomField = z.output<typeof customFieldSchema>
export type ExternalId = z.output<typeof externalIdSchema>
