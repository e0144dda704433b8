// Names the events pages show for codes and ids the API returns: items and lines (the taxonomy, loaded
// once per page load) and nodes (each fetched once). Both answer reactively: a name appears once loaded.
import { reactive, ref } from 'vue'
import { api, call, type Schemas } from '@/api/client'
import { nodeName } from '@/console/nodeName'

export type Line = Schemas['EventLineOut']
export type Item = Schemas['EventItemOut']

const lines = ref<Line[]>([])
const items = reactive(new Map<string, Item & { line: string }>())
let loading: Promise<Line[]> | null = null

/** The business lines with their items, in the taxonomy's order. */
export function loadCatalog(): Promise<Line[]> {
  loading ??= call(api.GET('/api/v1/event-items')).then((page) => {
    lines.value = page.items
    for (const line of page.items) for (const item of line.items) items.set(item.code, { ...item, line: line.code })
    return page.items
  })
  loading.catch(() => (loading = null))
  return loading
}

export function useCatalog() {
  void loadCatalog()
  return {
    lines,
    item: (code: string) => items.get(code),
    itemName: (code: string, locale: string) => {
      const item = items.get(code)
      return item ? nodeName(item, locale) : code
    },
  }
}

const nodes = reactive(new Map<number, Schemas['NodeOut'] | null>())

/** A node's name in the interface language ('' until it has loaded or when it is not visible). */
export function nodeNameOf(id: number, locale: string): string {
  if (!nodes.has(id)) {
    nodes.set(id, null)
    call(api.GET('/api/v1/nodes/{node_id}', { params: { path: { node_id: id } } }))
      .then((node) => nodes.set(id, node))
      .catch(() => undefined)
  }
  const node = nodes.get(id)
  return node ? nodeName(node, locale) : ''
}
