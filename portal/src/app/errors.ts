// A failed call told the resident: the API's own message, else a general one in their language.
import { showFailToast } from 'vant'
import { ref } from 'vue'
import { ApiError } from '@/api/client'
import { i18n } from './i18n'

export function showError(exc: unknown): void {
  showFailToast(exc instanceof ApiError ? exc.message : i18n.global.t('errors.generic'))
}

/** A page's "working…" flag and the one way its actions run: busy meanwhile, a refusal shown. */
export function useBusy() {
  const busy = ref(false)
  async function guarded(work: () => Promise<void>): Promise<void> {
    busy.value = true
    try {
      await work()
    } catch (exc) {
      showError(exc)
    } finally {
      busy.value = false
    }
  }
  return { busy, guarded }
}
