// Where a device is: its node (usually the estate) and, inside it, building · unit · floor · space.
import type { Schemas } from '@/api/client'

export const LOCATION_KEYS = ['building', 'unit', 'floor', 'space'] as const
export type LocationKey = (typeof LOCATION_KEYS)[number]
export type Location = Partial<Record<LocationKey, string>>

export function locationParts(location: Schemas['DeviceOut']['location'] | undefined): string[] {
  return LOCATION_KEYS.map((key) => location?.[key]).filter((part): part is string => typeof part === 'string' && part !== '')
}

export function placeText(nodeName: string | undefined, location: Schemas['DeviceOut']['location'] | undefined): string {
  return [nodeName, ...locationParts(location)].filter(Boolean).join(' · ')
}

/** The location to send: only the parts the user filled in, trimmed. */
export function locationBody(form: Location): Location {
  const out: Location = {}
  for (const key of LOCATION_KEYS) {
    const value = form[key]?.trim()
    if (value) out[key] = value
  }
  return out
}
