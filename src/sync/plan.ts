import type { SystemConfig } from '../config/systems.ts'
import { fieldError } from '../errors.ts'
import type { DataType } from '../models/index.ts'
import { parseScope } from '../pipeline/scope.ts'
import { pollTarget } from '../poll/trigger.ts'
import type { Action, SystemRegistry } from '../stores/systems.ts'
import { findFlow, inboundScopes, unfetchable } from '../stores/systems.ts'

/** What a manual sync asks for, as sent (JSON body or CSV query parameters). */
export interface SyncParams {
  system?: string
  type?: DataType
  scope?: string
  action?: Action | 'poll'
  direction?: 'inbound' | 'outbound'
  target?: string
  debug?: boolean
}

/** A checked manual sync: where ids come from and where their jobs go. */
export interface SyncPlan {
  direction: 'inbound' | 'outbound'
  type: DataType
  action: Action
  /** Inbound: the source. Outbound: the system whose external ids are given (else hub ids). */
  system?: SystemConfig
  target?: SystemConfig
  debug: boolean
  /** `<type>/poll`: no ids; the system's poll of `type` runs now, as this batch (src/poll). */
  poll?: boolean
}

/** Resolve and check the request as a whole; per-line problems are handled while reading ids. */
export async function planSync (systems: SystemRegistry, p: SyncParams): Promise<SyncPlan> {
  const fromScope = p.scope ? parseScope(p.scope) : undefined
  if (p.scope && !fromScope) throw fieldError('scope', `'${p.scope}' is not <type>/<create|update|delete|poll>`)
  if (fromScope && p.type && fromScope.type !== p.type) throw fieldError('scope', `'${p.scope}' does not match type '${p.type}'`)
  const type = fromScope?.type ?? p.type
  if (!type) throw fieldError('type', 'required (or give a scope such as customer/update)')
  const action = fromScope?.action ?? p.action ?? 'update'
  const direction = p.direction ?? 'inbound'
  const system = p.system ? await systems.get(p.system) : undefined
  if (p.system && !system) throw fieldError('system', `no system '${p.system}'`)
  if (action === 'poll') {
    if (direction !== 'inbound' || !system) throw fieldError('system', `required for ${type}/poll (the system to poll)`)
    await pollTarget(systems, system.id, type)
    return { direction, type, action: 'update', system, debug: false, poll: true }
  }
  if (direction === 'inbound') {
    if (!system) throw fieldError('system', 'required for an inbound sync (the system to fetch the records from)')
    if (p.target) throw fieldError('target', 'only for direction outbound')
    const scope = `${type}/${action}`
    const accepted = inboundScopes(system)
    if (!accepted.includes(scope)) throw fieldError('scope', `${unfetchable(system, type, action) ?? `${system.id} has no inbound flow for ${scope}`}; accepted: ${accepted.join(', ') || 'none'}`, { acceptedScopes: accepted })
    return { direction, type, action, system, debug: !!p.debug }
  }
  if (!p.target) throw fieldError('target', 'required for direction outbound (the one system to push to)')
  const target = await systems.get(p.target)
  if (!target) throw fieldError('target', `no system '${p.target}'`)
  if (!findFlow(target, type, 'outbound', action)) throw fieldError('target', `${target.id} has no enabled outbound flow for ${type}/${action}`)
  return { direction, type, action, system, target, debug: !!p.debug }
}
