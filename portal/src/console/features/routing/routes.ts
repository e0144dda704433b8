import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'routing',
    name: 'routing',
    component: () => import('./RoutingView.vue'),
    meta: { needs: ['routing', 'read'], menu: 'routing.menu' },
  },
] satisfies RouteRecordRaw[]
