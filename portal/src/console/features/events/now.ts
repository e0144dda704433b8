// One clock for every countdown on the page, ticking while anything shows one.
import { onScopeDispose, ref, type Ref } from 'vue'

const TICK_MS = 15_000
const now = ref(Date.now())
let users = 0
let timer: ReturnType<typeof setInterval> | undefined

export function useNow(): Ref<number> {
  if (users++ === 0) {
    now.value = Date.now()
    timer = setInterval(() => (now.value = Date.now()), TICK_MS)
  }
  onScopeDispose(() => {
    if (--users === 0) clearInterval(timer)
  })
  return now
}
