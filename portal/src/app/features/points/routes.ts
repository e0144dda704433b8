import type { RouteRecordRaw } from 'vue-router'

export default [{ path: '/s/points/:code', name: 'service-points', component: () => import('./PointsView.vue') }] satisfies RouteRecordRaw[]
