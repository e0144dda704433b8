import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'audit',
    name: 'audit',
    component: () => import('./AuditView.vue'),
    meta: { needs: ['audit', 'read'], menu: 'audit.menu' },
  },
] satisfies RouteRecordRaw[]
