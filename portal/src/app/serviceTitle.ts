// The page title of a service's pages: the service's name (from the app's configuration, in the
// resident's language), or the feature's own title when the code is not one of this app's.
import { computed, type ComputedRef } from 'vue'
import { useI18n } from 'vue-i18n'
import { useRoute } from 'vue-router'
import { useTenant } from './stores/tenant'

export function useServiceTitle(fallback: () => string): ComputedRef<string> {
  const route = useRoute()
  const tenant = useTenant()
  const { locale } = useI18n()
  return computed(() => {
    const service = tenant.services.find((s) => s.code === route.params.code)
    if (!service) return fallback()
    return locale.value === 'en' ? service.name_en : service.name
  })
}
