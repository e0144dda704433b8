// The resident-app services of one kind in the tenant of the current node, switched on (an activity, a
// resource, a vote or a kept item belongs to one of them), and their names in the page's language.
import { api, call, type Schemas } from '@/api/client'
import { allTenants, tenantOf, type Tenant } from './features/tenants/lookup'
import type { TreeNode } from './stores/node'

export type TenantService = Schemas['TenantServiceOut']
export type ServiceKind = TenantService['kind']

/** The tenant the node belongs to, or undefined above every tenant (a district). */
export async function tenantHere(node: TreeNode | undefined): Promise<Tenant | undefined> {
  return tenantOf(await allTenants(), node)
}

export async function servicesOfKind(tenant: Tenant | undefined, kind: ServiceKind): Promise<TenantService[]> {
  if (!tenant) return []
  const page = await call(api.GET('/api/v1/tenants/{tenant_id}/services', { params: { path: { tenant_id: tenant.id } } }))
  return page.items.filter((s) => s.kind === kind && s.enabled)
}

/** A service's name by code from a list of services (the code itself when it is not there). */
export function serviceName(services: TenantService[], code: string, locale: string): string {
  const found = services.find((s) => s.code === code)
  if (!found) return code
  return locale === 'en' ? found.name_en : found.name
}
