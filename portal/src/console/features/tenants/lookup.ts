// Tenants with the names and levels of their nodes, shared by the tenant list and the resident-app setup.
import { api, call, type Schemas } from '@/api/client'
import type { TreeNode } from '@/console/stores/node'

export type Tenant = Schemas['TenantOut']

/** Every tenant the caller may read (a district has a handful: read all pages). */
export async function allTenants(status?: 'active' | 'suspended' | 'offboarded'): Promise<Tenant[]> {
  const found: Tenant[] = []
  let cursor: string | undefined
  do {
    const page = await call(api.GET('/api/v1/tenants', { params: { query: { status, cursor, limit: 200 } } }))
    found.push(...page.items)
    cursor = page.next_cursor ?? undefined
  } while (cursor)
  return found
}

/** The tenant a node belongs to: the one whose node is the node itself or lies above it. */
export function tenantOf(tenants: Tenant[], node: TreeNode | undefined): Tenant | undefined {
  if (!node) return undefined
  return tenants.find((t) => node.node_path === t.node_path || node.node_path.startsWith(`${t.node_path}.`))
}
