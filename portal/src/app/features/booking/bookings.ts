// A booking service's resources, a resource's slots on a day and the resident's own bookings.
import { api, call, type Schemas } from '@/api/client'

export type Resource = Schemas['ResourceOut']
export type Booking = Schemas['BookingOut']
export type SlotState = 'free' | 'taken' | 'mine' | 'passed'

export async function loadResources(slug: string, service: string): Promise<Resource[]> {
  const page = await call(api.GET('/api/v1/app/{slug}/booking/{booking_service}/resources', { params: { path: { slug, booking_service: service } } }))
  return page.items
}

export async function loadSlots(slug: string, resourceId: number, day: string): Promise<Schemas['Slot'][]> {
  const page = await call(api.GET('/api/v1/app/{slug}/resources/{resource_id}/slots', { params: { path: { slug, resource_id: resourceId }, query: { day } } }))
  return page.items
}

export function myBookingsPage(slug: string, cursor: string | undefined) {
  return call(api.GET('/api/v1/app/{slug}/bookings', { params: { path: { slug }, query: { cursor } } }))
}

/** A slot as the resident reads it: theirs, free, booked by someone, or already begun. */
export function slotState(slot: Schemas['Slot'], mine: Booking[]): SlotState {
  const start = new Date(slot.starts_at).getTime()
  if (mine.some((b) => b.status === 'booked' && new Date(b.starts_at).getTime() === start)) return 'mine'
  if (slot.free) return 'free'
  return start <= Date.now() ? 'passed' : 'taken'
}

/** The last moment the booking may be cancelled (the resource's window before its start). */
export function cancelBy(booking: Booking, resource: Resource): Date {
  return new Date(new Date(booking.starts_at).getTime() - resource.cancel_before_minutes * 60_000)
}
