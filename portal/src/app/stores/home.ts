// The signed-in resident's home answer (who they are, their households, pinned notices, open items),
// read once per visit of the home screen and shared by the pages that need the households.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, call, type Schemas } from '@/api/client'
import { useTenant } from './tenant'

export type Home = Schemas['HomeOut']

export const useHome = defineStore('home', () => {
  const tenant = useTenant()
  const home = ref<Home | null>(null)

  async function load(): Promise<Home> {
    home.value = await call(api.GET('/api/v1/app/{slug}/home', { params: { path: { slug: tenant.slug ?? '' } } }))
    return home.value
  }

  /** The cached answer, or a fresh one when there is none yet. */
  async function ensure(): Promise<Home> {
    return home.value ?? load()
  }

  return { home, load, ensure }
})
