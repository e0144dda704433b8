// The node the user is looking at. It lives in the URL (?node=), so drilling down, the back button
// and a shared link all agree; without one the user's own top node is taken.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import { api, call, type Schemas } from '@/api/client'
import { useSession } from './session'

export type TreeNode = Schemas['NodeOut']

export const useNodes = defineStore('nodes', () => {
  const route = useRoute()
  const router = useRouter()
  const session = useSession()
  const trail = ref<TreeNode[]>([])
  const current = computed<TreeNode | undefined>(() => trail.value[trail.value.length - 1])

  /** The user's top nodes: one per grant, without those lying under another grant's node. */
  const roots = computed<number[]>(() => {
    const grants = session.me?.grants ?? []
    const paths = grants.map((g) => g.node_path)
    return grants
      .filter((g) => !paths.some((p) => p !== g.node_path && g.node_path.startsWith(`${p}.`)))
      .map((g) => g.node_id)
      .filter((id, index, all) => all.indexOf(id) === index)
  })

  const currentId = computed<number | undefined>(() => {
    const fromUrl = Number(route.query.node)
    return Number.isInteger(fromUrl) && fromUrl > 0 ? fromUrl : roots.value[0]
  })

  /** The way from the user's top node down to the current one (nodes above the grant are not visible). */
  async function loadTrail(): Promise<void> {
    const id = currentId.value
    if (id === undefined) {
      trail.value = []
      return
    }
    const page = await call(api.GET('/api/v1/nodes/{node_id}/ancestors', { params: { path: { node_id: id } } }))
    const node = await call(api.GET('/api/v1/nodes/{node_id}', { params: { path: { node_id: id } } }))
    trail.value = [...page.items.filter((n) => n.id !== id), node]
  }

  async function go(id: number): Promise<void> {
    await router.push({ query: { ...route.query, node: String(id) } })
  }

  async function children(parentId: number): Promise<TreeNode[]> {
    const page = await call(api.GET('/api/v1/nodes', { params: { query: { parent_id: parentId, limit: 200 } } }))
    return page.items
  }

  async function byIds(ids: number[]): Promise<TreeNode[]> {
    return Promise.all(ids.map((id) => call(api.GET('/api/v1/nodes/{node_id}', { params: { path: { node_id: id } } }))))
  }

  return { trail, current, currentId, roots, loadTrail, go, children, byIds }
})
