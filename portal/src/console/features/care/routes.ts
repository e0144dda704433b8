import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'care/overview',
    name: 'care-overview',
    component: () => import('./OverviewView.vue'),
    meta: { needs: ['care', 'read'], menu: 'care.menuOverview' },
  },
  {
    path: 'care/visits',
    name: 'care-visits',
    component: () => import('./VisitsView.vue'),
    meta: { needs: ['care', 'visit'], menu: 'care.menuVisits' },
  },
] satisfies RouteRecordRaw[]
