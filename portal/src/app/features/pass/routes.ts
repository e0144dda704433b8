import type { RouteRecordRaw } from 'vue-router'

export default [
  { path: '/s/pass/:code', name: 'service-pass', component: () => import('./PassesView.vue') },
  { path: '/s/pass/:code/new', name: 'pass-issue', component: () => import('./PassIssueView.vue') },
  { path: '/s/pass/:code/:id(\\d+)', name: 'pass-detail', component: () => import('./PassView.vue') },
] satisfies RouteRecordRaw[]
