// Times as the phone's own picker (<input type="datetime-local">) takes them: local wall-clock text,
// sent to the API as an instant.

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

/** "2026-05-01T09:30" in the phone's time zone, to start a picker at. */
export function toLocalInput(at: Date): string {
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`
}

/** The picker's text as an ISO instant for the API; null when nothing (or nonsense) is picked. */
export function fromLocalInput(text: string): string | null {
  if (!text) return null
  const at = new Date(text)
  return Number.isNaN(at.getTime()) ? null : at.toISOString()
}

/** A time some hours from now, on the minute (a picker's sensible start). */
export function hoursFromNow(hours: number, now: Date = new Date()): Date {
  const at = new Date(now.getTime() + hours * 3_600_000)
  at.setSeconds(0, 0)
  return at
}
