import { lookup } from 'node:dns'
import type { LookupAddress, LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { buildConnector } from 'undici'

// Anyone who may configure a system chooses where the hub sends its requests, with that
// system's credentials. Unless the system opts in (allowPrivateNetwork), the hub calls public
// addresses only: never its own machine, the network it runs in, or a cloud metadata service
// that hands out the host's credentials. The check runs on the address actually connected to,
// after DNS, so every spelling of an IP and a name that resolves (or re-resolves) inward are
// caught alike.

// Cloud metadata services: AWS, GCP and Azure (and AWS's IPv6 one), Alibaba.
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200'])
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog'])

const RULES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private network',
  uniqueLocal: 'private network',
  linkLocal: 'link-local',
  carrierGradeNat: 'carrier-grade NAT',
  unspecified: 'unspecified address',
  broadcast: 'broadcast',
  multicast: 'multicast'
}

/** The IPv4 address an IPv6 address stands for (mapped, translated, NAT64, 6to4, compatible). */
function embeddedIPv4 (ip: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = ip.parts
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255])
  switch (ip.range()) {
    case 'ipv4Mapped':
    case 'rfc6145':
      return v4(p[6], p[7])
    case 'rfc6052':
      // The well-known NAT64 prefix 64:ff9b::/96; the local-use /48 stays refused as reserved.
      return p[2] === 0 ? v4(p[6], p[7]) : undefined
    case '6to4':
      return v4(p[1], p[2])
    case 'unicast':
      // The deprecated IPv4-compatible form ::a.b.c.d.
      return p.slice(0, 6).every(x => x === 0) ? v4(p[6], p[7]) : undefined
    default:
      return undefined
  }
}

/** Why the hub may not call this IP address (undefined: a public address, allowed). */
export function addressRule (address: string): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(address)
  if (ip.kind() === 'ipv6') ip = embeddedIPv4(ip as ipaddr.IPv6) ?? ip
  if (METADATA_ADDRESSES.has(ip.toString())) return 'cloud metadata service'
  const range = ip.range()
  if (range === 'unicast') return undefined
  return RULES[range] ?? `reserved range (${range})`
}

/**
 * Why the hub may not call this host, decided without DNS: an IP literal, or the name of a
 * metadata service. `hostname` as a WHATWG URL gives it, which has already turned 0x7f000001,
 * 2130706433, 127.1 and 0177.0.0.1 into 127.0.0.1. Other names (localhost too) are judged by
 * what they resolve to, when connecting.
 */
export function hostRule (hostname: string): string | undefined {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase()
  if (isIP(host)) return addressRule(host)
  if (METADATA_HOSTS.has(host)) return 'cloud metadata service'
  return undefined
}

/** hostRule of a URL's host (undefined for text that is no URL: that is reported elsewhere). */
export function urlRule (url: string): string | undefined {
  const host = URL.parse(url)?.hostname
  return host === undefined ? undefined : hostRule(host)
}

/** A connection the guard refused; nothing was sent. */
export class AddressRefused extends Error {
  rule: string
  constructor (host: string, address: string, rule: string) {
    super(`refusing to call ${host === address ? host : `${host} (${address})`} (${rule})`)
    this.rule = rule
  }
}

type LookupCallback = (err: Error | null, address: string | LookupAddress[], family?: number) => void

/** dns.lookup that fails when any address the name resolves to is refused. */
function guardedLookup (hostname: string, options: LookupOptions, callback: LookupCallback): void {
  lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, [])
    for (const { address } of addresses) {
      const rule = addressRule(address)
      if (rule) return callback(new AddressRefused(hostname, address, rule), [])
    }
    if (options.all) callback(null, addresses)
    else callback(null, addresses[0].address, addresses[0].family)
  })
}

const connect = buildConnector({ lookup: guardedLookup } as buildConnector.BuildOptions)

/** An undici `connect` that refuses private addresses: IP literals at once, names once resolved. */
export const guardedConnect: buildConnector.connector = (options, callback) => {
  const rule = hostRule(options.hostname)
  if (rule) return callback(new AddressRefused(options.hostname, options.hostname, rule), null)
  return connect(options, callback)
}
