// CSV files the console hands out: the bulk-registration template and the credentials of the devices a
// bulk upload registered (offered once, like a single registration's).
import type { Schemas } from '@/api/client'

export const BULK_COLUMNS = ['type', 'serial', 'node_id', 'building', 'unit', 'floor', 'space', 'gateway'] as const

function cell(value: string | number | boolean | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function toCsv(rows: (string | number | boolean | null | undefined)[][]): string {
  return rows.map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n'
}

export function templateCsv(nodeId: number | undefined): string {
  return toCsv([[...BULK_COLUMNS], ['smoke_detector', 'SD-0001', nodeId ?? '', '1栋', '1单元', '3', '301', 'false']])
}

export function credentialsCsv(created: Schemas['DeviceCreated'][]): string {
  const header = ['serial', 'type', 'token', 'mqtt_username', 'mqtt_password', 'telemetry_topic', 'commands_topic', 'acks_topic']
  const rows = created.map((d) => [
    d.serial,
    d.type,
    d.credentials.token,
    d.credentials.mqtt_username,
    d.credentials.mqtt_password,
    d.credentials.telemetry_topic,
    d.credentials.commands_topic,
    d.credentials.acks_topic,
  ])
  return toCsv([header, ...rows])
}

/** Hands a text to the browser as a file download (nothing is kept anywhere else). */
export function download(name: string, text: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob(['\ufeff', text], { type }))
  const link = document.createElement('a')
  link.href = url
  link.download = name
  link.click()
  setTimeout(() => URL.revokeObjectURL(url), 0)
}
