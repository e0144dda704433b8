// What the events pages work out from the API's answers: which tab a status sits in, the next deadline
// of an event, merging a poll into the list, and what the timeline says about duplicates and ratings.
import type { Schemas } from '@/api/client'

export type EventOut = Schemas['EventOut']
export type EventDetail = Schemas['EventDetailOut']
export type TimelineEntry = Schemas['TimelineOut']

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

/** How many events of each tab, from the API's counts per status. */
export function tabCounts(byStatus: Record<string, number>, overdue: number): Record<TabKey, number> {
  const out = {} as Record<TabKey, number>
  for (const tab of TABS) {
    const statuses: readonly string[] = tab.statuses
    out[tab.key] =
      tab.key === 'overdue'
        ? overdue
        : Object.entries(byStatus)
            .filter(([status]) => statuses.length === 0 || statuses.includes(status))
            .reduce((sum, [, n]) => sum + n, 0)
  }
  return out
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
export function mergeEvents(current: EventOut[], incoming: EventOut[], keep: (event: EventOut) => boolean): EventOut[] {
  const byId = new Map(current.map((e) => [e.id, e]))
  for (const event of incoming) byId.set(event.id, event)
  return [...byId.values()].filter(keep).sort(newestFirst)
}

export interface AlsoReported {
  label: string
  source: string
  at: string
}

/** Everyone whose report of the same thing at the same place was merged into this event. */
export function alsoReportedBy(timeline: TimelineEntry[]): AlsoReported[] {
  return timeline
    .filter((entry) => entry.action === 'duplicate')
    .map((entry) => ({ label: entry.actor_label ?? '', source: String(entry.data.source ?? ''), at: entry.at }))
}

export interface GivenRating {
  score: number
  comment: string | null
  at: string
}

/** The reporter's rating, as the timeline recorded it. */
export function ratingOf(timeline: TimelineEntry[]): GivenRating | null {
  const entry = [...timeline].reverse().find((e) => e.action === 'rated' && typeof e.data.score === 'number')
  return entry ? { score: entry.data.score as number, comment: entry.note, at: entry.at } : null
}

/** 小区 · 楼栋 · 单元: the node's name and the place inside it. */
export function placeText(nodeName: string, location: Record<string, unknown>): string {
  const inside = ['building', 'unit', 'floor', 'room']
    .map((key) => location[key])
    .filter((part): part is string => typeof part === 'string' && part !== '')
  const address = typeof location.address === 'string' ? [location.address] : []
  return [nodeName, ...inside, ...address].filter(Boolean).join(' · ')
}

/** The actions the API says the caller may take on the event now. */
export function allowedActions(event: EventDetail): string[] {
  return (event as EventDetail & { allowed_actions?: string[] }).allowed_actions ?? []
}
