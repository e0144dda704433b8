// The taxonomy the events pages name items and lines with: loaded once per page load, reactive (a
// name appears once it has loaded).
import { reactive, ref } from 'vue'
import { api, call, type Schemas } from '@/api/client'
import { nodeName } from '@/console/nodeName'

type Line = Schemas['EventLineOut']

const lines = ref<Line[]>([])
const items = reactive(new Map<string, Schemas['EventItemOut']>())
let loading: Promise<void> | null = null

function loadCatalog(): void {
  loading ??= call(api.GET('/api/v1/event-items'))
    .then((page) => {
      lines.value = page.items
      for (const line of page.items) for (const item of line.items) items.set(item.code, item)
    })
    .catch(() => {
      loading = null // the next page that needs it tries again
    })
}

/** The business lines with their items in the taxonomy's order, and an item's name by its code. */
export function useCatalog() {
  loadCatalog()
  return {
    lines,
    itemName: (code: string, locale: string) => {
      const item = items.get(code)
      return item ? nodeName(item, locale) : code
    },
  }
}
