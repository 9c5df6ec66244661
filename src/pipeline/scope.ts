import { dataTypes } from '../models/index.ts'
import type { DataType } from '../models/index.ts'
import type { Action } from '../stores/systems.ts'

/** `customer/update` → { type: 'customer', action: 'update' }; undefined when malformed. */
export function parseScope (scope: string): { type: DataType, action: Action | 'poll' } | undefined {
  const [type, action, extra] = scope.split('/')
  if (extra !== undefined || !(dataTypes as readonly string[]).includes(type)) return undefined
  if (action !== 'create' && action !== 'update' && action !== 'delete' && action !== 'poll') return undefined
  return { type: type as DataType, action }
}
