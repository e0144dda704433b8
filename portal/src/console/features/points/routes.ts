import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'points',
    name: 'points',
    component: () => import('./PointsView.vue'),
    meta: { needs: ['points', 'read'], menu: 'points.menu' },
  },
] satisfies RouteRecordRaw[]
