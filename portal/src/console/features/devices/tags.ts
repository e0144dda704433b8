// How a status, a severity or a command's outcome looks: one Element Plus tag colour each.
type Tag = 'success' | 'info' | 'warning' | 'danger' | 'primary'

const DEVICE_STATUS: Record<string, Tag> = { online: 'success', offline: 'warning', registered: 'info', revoked: 'danger' }
const SEVERITY: Record<string, Tag> = { critical: 'danger', high: 'danger', medium: 'warning', low: 'info' }
const ALARM_STATE: Record<string, Tag> = { open: 'danger', acknowledged: 'warning', cleared: 'success' }
const COMMAND_STATUS: Record<string, Tag> = { pending: 'info', sent: 'primary', acked: 'success', failed: 'danger', timeout: 'warning' }

export const deviceStatusTag = (status: string): Tag => DEVICE_STATUS[status] ?? 'info'
export const severityTag = (severity: string): Tag => SEVERITY[severity] ?? 'info'
export const alarmStateTag = (state: string): Tag => ALARM_STATE[state] ?? 'info'
export const commandStatusTag = (status: string): Tag => COMMAND_STATUS[status] ?? 'info'
