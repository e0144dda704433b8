// The names of the event taxonomy's business lines and items (GET /api/v1/event-items), loaded once per
// page load and shared by every page that shows a code: a name appears once loaded, the code until then.
import { reactive } from 'vue'
import { api, call, type Schemas } from '@/api/client'
import { nodeName } from './nodeName'

type Named = Pick<Schemas['EventLineOut'], 'name' | 'name_en'>

const names = reactive(new Map<string, Named>())
let loading: Promise<void> | null = null

function load(): Promise<void> {
  loading ??= call(api.GET('/api/v1/event-items')).then((page) => {
    for (const line of page.items) {
      names.set(line.code, line)
      for (const item of line.items) names.set(item.code, item)
    }
  })
  loading.catch(() => (loading = null))
  return loading
}

/** A line's or an item's name in the interface language (line and item codes never collide). */
export function useTaxonomyNames(): (code: string, locale: string) => string {
  void load().catch(() => undefined)
  return (code, locale) => {
    const named = names.get(code)
    return named ? nodeName(named, locale) : code
  }
}
