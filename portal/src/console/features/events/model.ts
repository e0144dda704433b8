// What the events pages work out from the API's answers: which tab an event sits in, how many each tab
// holds, the deadline an event runs against, and merging a poll into the list.
import type { Schemas } from '@/api/client'

export type EventOut = Schemas['EventOut']
export type EventRow = Schemas['EventRow']
export type EventDetail = Schemas['EventDetailOut']

/** The list's tabs: a status group each (the state machine's seven statuses), plus the overdue view. */
export const TABS = [
  { key: 'all', statuses: [] },
  { key: 'pending', statuses: ['new', 'dispatched'] },
  { key: 'working', statuses: ['accepted', 'in_progress'] },
  { key: 'review', statuses: ['resolved'] },
  { key: 'done', statuses: ['closed'] },
  { key: 'cancelled', statuses: ['cancelled'] },
  { key: 'overdue', statuses: [], overdue: true },
] as const satisfies readonly { key: string; statuses: readonly string[]; overdue?: boolean }[]

export type TabKey = (typeof TABS)[number]['key']

export const SOURCES = ['ai_video', 'iot_alarm', 'resident_report', 'staff_patrol', 'hotline', 'robot', 'upstream'] as const
/** The sources a person enters by hand (the others come only from devices and platforms). */
export const MANUAL_SOURCES = ['staff_patrol', 'hotline', 'upstream'] as const

export type Tab = (typeof TABS)[number]

/** How many events each tab holds, from the API's counts per status (and of overdue ones). */
export function tabCounts(counts: Schemas['EventCounts']): Record<TabKey, number> {
  const out = {} as Record<TabKey, number>
  for (const tab of TABS) {
    const statuses: readonly string[] = tab.statuses
    out[tab.key] =
      tab.key === 'overdue'
        ? counts.overdue
        : Object.entries(counts.by_status)
            .filter(([status]) => statuses.length === 0 || statuses.includes(status))
            .reduce((sum, [, n]) => sum + n, 0)
  }
  return out
}

/** Whether an event (as a poll brings it back) still belongs in the tab. */
export function inTab(tab: Tab, event: Pick<EventOut, 'status' | 'overdue'>): boolean {
  const statuses: readonly string[] = tab.statuses
  if ('overdue' in tab && tab.overdue) return event.overdue
  return statuses.length === 0 || statuses.includes(event.status)
}

export interface Deadline {
  kind: 'accept' | 'resolve'
  due: string
}

/** The deadline the event is running against now: accepting while nobody has, resolving after. */
export function nextDeadline(event: Pick<EventOut, 'status' | 'accept_by' | 'resolve_by'>): Deadline | null {
  if ((event.status === 'new' || event.status === 'dispatched') && event.accept_by) {
    return { kind: 'accept', due: event.accept_by }
  }
  if (['new', 'dispatched', 'accepted', 'in_progress'].includes(event.status) && event.resolve_by) {
    return { kind: 'resolve', due: event.resolve_by }
  }
  return null
}

/** Seconds until `due` (negative once it has passed). */
export function secondsLeft(due: string, now: number): number {
  return Math.round((Date.parse(due) - now) / 1000)
}

function newestFirst(a: EventOut, b: EventOut): number {
  return b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id)
}

/**
 * The list after a poll: changed events replace their rows, new ones join in order (newest first), and
 * events that no longer belong to the list (`keep` says so, e.g. they left the tab's statuses) go.
 */
export function mergeEvents<T extends EventOut>(current: T[], incoming: T[], keep: (event: T) => boolean): T[] {
  const byId = new Map(current.map((e) => [e.id, e]))
  for (const event of incoming) byId.set(event.id, event)
  return [...byId.values()].filter(keep).sort(newestFirst)
}

/** 小区 · 楼栋 · 单元: the name of the event's node and the place inside it. */
export function placeText(nodeName: string, location: Record<string, unknown>): string {
  const inside = ['building', 'unit', 'floor', 'room']
    .map((key) => location[key])
    .filter((part): part is string => typeof part === 'string' && part !== '')
  const address = typeof location.address === 'string' ? [location.address] : []
  return [nodeName, ...inside, ...address].filter(Boolean).join(' · ')
}

