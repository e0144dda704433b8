// The app's community-life features: each service kind brings its pages (route `service-<kind>` opens it
// from the service grid, see ServiceGrid.vue) and its texts (under its name). Adding one is one line here.
import type { RouteRecordRaw } from 'vue-router'
import type { Bilingual } from '@/shared/messages'

interface Feature {
  routes: RouteRecordRaw[]
  messages: Bilingual<unknown>
}

export const FEATURES: Record<string, Feature> = {}
