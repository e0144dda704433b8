import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'patrol/mine',
    name: 'patrol-mine',
    component: () => import('./MyRoundsView.vue'),
    meta: { needs: ['patrol', 'checkin'], menu: 'patrol.menuMine' },
  },
  {
    path: 'patrol/plans',
    name: 'patrol-plans',
    component: () => import('./PlansView.vue'),
    meta: { needs: ['patrol', 'create'], menu: 'patrol.menuPlans' },
  },
  {
    path: 'patrol/plans/:planId/qr',
    name: 'patrol-qr',
    component: () => import('./QrSheetView.vue'),
    props: true,
    meta: { needs: ['patrol', 'read'] },
  },
] satisfies RouteRecordRaw[]
