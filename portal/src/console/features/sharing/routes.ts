import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'sharing/items',
    name: 'share-items',
    component: () => import('./ItemsView.vue'),
    meta: { needs: ['sharing', 'read'], menu: 'sharing.menuItems' },
  },
  {
    path: 'sharing/loans',
    name: 'share-loans',
    component: () => import('./LoansView.vue'),
    meta: { needs: ['sharing', 'read'], menu: 'sharing.menuLoans' },
  },
] satisfies RouteRecordRaw[]
