import { describe, expect, it } from 'vitest'
import type { DeviceType } from './catalog'
import { commandArgs, commandsOf, initialArgs, metricsOf, typeName } from './catalog'

const fan = {
  id: null,
  code: 'exhaust_fan',
  source: 'catalog',
  tenant_id: null,
  node_id: null,
  node_path: null,
  name: { zh: '排风机', en: 'Exhaust fan' },
  interval_s: 60,
  actuator: true,
  gateway: false,
  metrics: [{ code: 'power_on', kind: 'flag' }, { code: 'current_a', kind: 'gauge', unit: 'A' }],
  rules: [],
  commands: [{ code: 'set_power', args: { on: 'bool' }, ack_timeout_s: 30 }, { code: 'tune', args: { speed: 'int', label: 'str', gain: 'float' } }],
  created_at: null,
  updated_at: null,
} satisfies DeviceType

describe('a device type as the console reads it', () => {
  it('names it in the interface language and falls back to the code', () => {
    expect(typeName(fan, 'exhaust_fan', 'zh-CN')).toBe('排风机')
    expect(typeName(fan, 'exhaust_fan', 'en')).toBe('Exhaust fan')
    expect(typeName(undefined, 'mystery', 'en')).toBe('mystery')
  })
  it('lists its metrics with their units and its commands with their argument kinds', () => {
    expect(metricsOf(fan)).toEqual([
      { code: 'power_on', kind: 'flag', unit: null },
      { code: 'current_a', kind: 'gauge', unit: 'A' },
    ])
    expect(commandsOf(fan).map((c) => c.code)).toEqual(['set_power', 'tune'])
    expect(commandsOf(undefined)).toEqual([])
  })
})

describe('command arguments', () => {
  const [setPower, tune] = commandsOf(fan)
  it('starts switches off and numbers empty', () => {
    expect(initialArgs(setPower!)).toEqual({ on: false })
    expect(initialArgs(tune!)).toEqual({ speed: undefined, label: undefined, gain: undefined })
  })
  it('sends what the type declares and names what is missing or not a whole number', () => {
    expect(commandArgs(setPower!, { on: true })).toEqual({ args: { on: true }, problems: {} })
    expect(commandArgs(tune!, { speed: 2.5, label: '  ', gain: 0.5 })).toEqual({
      args: { gain: 0.5 },
      problems: { speed: 'integer', label: 'required' },
    })
    expect(commandArgs(tune!, { speed: 3, label: 'night', gain: null }).problems).toEqual({ gain: 'required' })
  })
})
