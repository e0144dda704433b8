import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'residents',
    name: 'residents',
    component: () => import('./ResidentsView.vue'),
    meta: { needs: ['residents', 'read'], menu: 'residents.menu' },
  },
  {
    path: 'residents/:id(\\d+)',
    name: 'resident',
    component: () => import('./PersonView.vue'),
    meta: { needs: ['residents', 'read'] },
  },
] satisfies RouteRecordRaw[]
