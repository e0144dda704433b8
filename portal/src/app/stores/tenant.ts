// The tenant whose app this is (from the URL, /app/{slug}/) and its configuration: branding and the
// enabled services by section, in the tenant's order. Loaded before anyone signs in.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, call, type Schemas } from '@/api/client'

export type AppConfig = Schemas['AppConfig']
export type AppService = Schemas['AppService']

export function slugFromPath(pathname: string): string | null {
  const match = /^\/app\/([a-z0-9][a-z0-9-]{1,62})\/?/.exec(pathname)
  return match?.[1] ?? null
}

export const useTenant = defineStore('tenant', () => {
  const slug = slugFromPath(window.location.pathname)
  const config = ref<AppConfig | null>(null)
  const failed = ref(false)

  const branding = computed<Partial<Schemas['AppBranding']>>(() => config.value?.branding ?? {})
  const services = computed<AppService[]>(() => config.value?.sections.flatMap((s) => s.services) ?? [])

  async function load(): Promise<void> {
    if (!slug) {
      failed.value = true
      return
    }
    try {
      config.value = await call(api.GET('/api/v1/app/{slug}/config', { params: { path: { slug } } }))
      document.title = branding.value.app_name ?? document.title
    } catch {
      failed.value = true
    }
  }

  return { slug, config, failed, branding, services, load }
})
