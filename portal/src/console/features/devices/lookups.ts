// Look-ups the alarm and device pages share, each asked of the API once per signed-in session: the
// device-type catalog, the nodes devices stand at and the people who act on alarms (for their names).
import { api, call, type Schemas } from '@/api/client'
import { tokens } from '@/api/tokens'
import type { DeviceType } from './catalog'

export type Device = Schemas['DeviceOut']
export type TreeNode = Schemas['NodeOut']

let types: Promise<Map<string, DeviceType>> | null = null
let people: Promise<Map<string, string>> | null = null
const nodes = new Map<number, Promise<TreeNode | null>>()

tokens.onCleared(() => {
  types = null
  people = null
  nodes.clear()
})

/** The types that apply at the user's node or are defined below it, by code. */
export function deviceTypes(): Promise<Map<string, DeviceType>> {
  types ??= call(api.GET('/api/v1/device-types')).then(
    (page) => new Map(page.items.map((type) => [type.code, type])),
    (exc: unknown) => {
      types = null
      throw exc
    },
  )
  return types
}

/** A node by id, or null when the user may not see it. */
export function nodeById(id: number): Promise<TreeNode | null> {
  let found = nodes.get(id)
  if (!found) {
    found = call(api.GET('/api/v1/nodes/{node_id}', { params: { path: { node_id: id } } })).catch(() => null)
    nodes.set(id, found)
  }
  return found
}

/** Several nodes by id, as a map (the ones the user may not see are left out). */
export async function nodesByIds(ids: Iterable<number>): Promise<Map<number, TreeNode>> {
  const unique = [...new Set(ids)]
  const found = await Promise.all(unique.map(nodeById))
  return new Map(found.filter((node): node is TreeNode => node !== null).map((node) => [node.id, node]))
}

/** Several devices by id (an alarm list's), as a map. */
export async function devicesByIds(ids: Iterable<number>): Promise<Map<number, Device>> {
  const unique = [...new Set(ids)]
  const found = await Promise.all(
    unique.map((id) => call(api.GET('/api/v1/devices/{device_id}', { params: { path: { device_id: id } } })).catch(() => null)),
  )
  return new Map(found.filter((device): device is Device => device !== null).map((device) => [device.id, device]))
}

/** Display names by user id of the people granted within the user's own part of the tree (one page). */
export function userNames(): Promise<Map<string, string>> {
  people ??= call(api.GET('/api/v1/users', { params: { query: { limit: 500 } } })).then(
    (page) => new Map(page.items.map((user) => [user.user_id, user.display_name])),
    () => new Map<string, string>(),
  )
  return people
}
