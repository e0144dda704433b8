// What a device type declares, read from the API's device-type catalog: its name, its metrics (what the
// chart can draw) and its commands with their argument kinds (what the send form asks for).
import type { Schemas } from '@/api/client'
import type { Lang } from '@/shared/locale'

export type DeviceType = Schemas['DeviceTypeOut']

export interface MetricSpec {
  code: string
  kind: string
  unit: string | null
}

export type ArgKind = 'bool' | 'int' | 'float' | 'str'
export type ArgValue = boolean | number | string | null | undefined

export interface CommandSpec {
  code: string
  args: Record<string, ArgKind>
}

const ARG_KINDS = new Set<string>(['bool', 'int', 'float', 'str'])

export function typeName(type: DeviceType | undefined, code: string, lang: Lang): string {
  if (!type) return code
  return lang === 'en' ? type.name.en : type.name.zh
}

export function metricsOf(type: DeviceType | undefined): MetricSpec[] {
  return (type?.metrics ?? []).map((m) => ({
    code: String(m.code),
    kind: typeof m.kind === 'string' ? m.kind : 'gauge',
    unit: typeof m.unit === 'string' ? m.unit : null,
  }))
}

export function commandsOf(type: DeviceType | undefined): CommandSpec[] {
  return (type?.commands ?? []).map((c) => {
    const declared = (c.args ?? {}) as Record<string, unknown>
    const args = Object.fromEntries(
      Object.entries(declared).map(([name, kind]) => [name, ARG_KINDS.has(String(kind)) ? (kind as ArgKind) : 'str']),
    )
    return { code: String(c.code), args }
  })
}

export function initialArgs(spec: CommandSpec): Record<string, ArgValue> {
  return Object.fromEntries(Object.entries(spec.args).map(([name, kind]) => [name, kind === 'bool' ? false : undefined]))
}

export type ArgProblem = 'required' | 'integer'

/** The arguments to send, or what is wrong with each one the user left out or typed wrong. */
export function commandArgs(
  spec: CommandSpec,
  values: Record<string, ArgValue>,
): { args: Record<string, boolean | number | string>; problems: Record<string, ArgProblem> } {
  const args: Record<string, boolean | number | string> = {}
  const problems: Record<string, ArgProblem> = {}
  for (const [name, kind] of Object.entries(spec.args)) {
    const value = values[name]
    if (kind === 'bool') {
      args[name] = value === true
    } else if (kind === 'str') {
      if (typeof value === 'string' && value.trim()) args[name] = value.trim()
      else problems[name] = 'required'
    } else if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems[name] = 'required'
    } else if (kind === 'int' && !Number.isInteger(value)) {
      problems[name] = 'integer'
    } else {
      args[name] = value
    }
  }
  return { args, problems }
}
