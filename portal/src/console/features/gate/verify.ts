// A pass's QR payload checked in the browser with the tenant's cached public key and revocation list:
// the gate decides without the network (the same rules as linli/passes/token.py).

export interface GateCache {
  tenant_id: number
  public_key: string
  revoked: number[]
  as_of: string
}

export interface Verdict {
  ok: boolean
  reason: string | null
  passId?: number
  validUntil?: Date
}

const PREFIX = 'LP1'

function b64(data: Uint8Array): string {
  let text = ''
  for (const byte of data) text += String.fromCharCode(byte)
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Strict base64url: only the canonical spelling of the bytes (a changed padding bit is a changed pass). */
export function unb64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null
  try {
    const raw = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4))
    const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0))
    return b64(bytes) === text ? bytes : null
  } catch {
    return null
  }
}

const keys = new Map<string, Promise<CryptoKey>>()

function publicKey(encoded: string): Promise<CryptoKey> {
  let found = keys.get(encoded)
  if (!found) {
    const raw = unb64(encoded)
    if (!raw) return Promise.reject(new Error('bad key'))
    found = crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify'])
    keys.set(encoded, found)
  }
  return found
}

export async function verifyPass(cache: GateCache, scanned: string, at: Date = new Date()): Promise<Verdict> {
  const refused = (reason: string): Verdict => ({ ok: false, reason })
  const [prefix, body, sealed, ...rest] = scanned.trim().split('.')
  if (prefix !== PREFIX || body === undefined || sealed === undefined || rest.length) return refused('bad_signature')
  const payload = unb64(body)
  const signature = unb64(sealed)
  if (!payload || !signature) return refused('bad_signature')
  let valid = false
  try {
    valid = await crypto.subtle.verify({ name: 'Ed25519' }, await publicKey(cache.public_key), signature, payload)
  } catch {
    return refused('no_crypto')
  }
  if (!valid) return refused('bad_signature')
  let claims: { p: number; t: number; f: number; u: number }
  try {
    claims = JSON.parse(new TextDecoder().decode(payload))
  } catch {
    return refused('bad_signature')
  }
  const base = { passId: claims.p, validUntil: new Date(claims.u * 1000) }
  if (claims.t !== cache.tenant_id) return { ...base, ok: false, reason: 'other_tenant' }
  if (cache.revoked.includes(claims.p)) return { ...base, ok: false, reason: 'revoked' }
  if (at.getTime() < claims.f * 1000) return { ...base, ok: false, reason: 'not_yet_valid' }
  if (at.getTime() >= claims.u * 1000) return { ...base, ok: false, reason: 'expired' }
  return { ...base, ok: true, reason: null }
}
