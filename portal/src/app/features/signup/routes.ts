import type { RouteRecordRaw } from 'vue-router'

export default [
  { path: '/s/signup/:code', name: 'service-signup', component: () => import('./ActivitiesView.vue') },
  { path: '/s/signup/:code/:id', name: 'signup-activity', component: () => import('./ActivityView.vue') },
] satisfies RouteRecordRaw[]
