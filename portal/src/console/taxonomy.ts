// The event taxonomy (GET /api/v1/event-items): loaded once per page load and shared by every page that
// lists lines and items or shows a code. Reactive: a name appears once loaded, the code until then.
import { reactive, ref } from 'vue'
import { api, call, type Schemas } from '@/api/client'
import { nodeName } from './nodeName'

type Line = Schemas['EventLineOut']
type Named = Pick<Line, 'name' | 'name_en'>

const lines = ref<Line[]>([])
const names = reactive(new Map<string, Named>())
let loading: Promise<void> | null = null

function load(): void {
  loading ??= call(api.GET('/api/v1/event-items'))
    .then((page) => {
      lines.value = page.items
      for (const line of page.items) {
        names.set(line.code, line)
        for (const item of line.items) names.set(item.code, item)
      }
    })
    .catch(() => {
      loading = null // the next page that needs it tries again
    })
}

/** The business lines with their items in the taxonomy's order, and a line's or an item's name by its
 * code in the interface language (line and item codes never collide). */
export function useTaxonomy() {
  load()
  return {
    lines,
    name: (code: string, locale: string): string => {
      const named = names.get(code)
      return named ? nodeName(named, locale) : code
    },
  }
}
