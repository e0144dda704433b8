// A list read a page at a time with the API's cursors: the first page, then "load more" appends the next.
import { ref, type Ref } from 'vue'

export interface CursorPage<T> {
  items: T[]
  next_cursor?: string | null
}

export function useCursorList<T>(fetchPage: (cursor: string | undefined) => Promise<CursorPage<T>>, fallbackError: () => string) {
  const items = ref<T[]>([]) as Ref<T[]>
  const next = ref<string | null>(null)
  const loading = ref(false)
  const error = ref('')

  /** The first page again, or (more) the page after the last one read. */
  async function load(more = false): Promise<void> {
    loading.value = true
    error.value = ''
    try {
      const page = await fetchPage(more ? (next.value ?? undefined) : undefined)
      items.value = more ? [...items.value, ...page.items] : page.items
      next.value = page.next_cursor ?? null
    } catch (exc) {
      error.value = exc instanceof Error ? exc.message : fallbackError()
    } finally {
      loading.value = false
    }
  }

  return { items, next, loading, error, load }
}
