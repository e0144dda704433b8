import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'command',
    name: 'command',
    component: () => import('./CommandView.vue'),
    meta: { needs: ['kpis', 'read'], menu: 'menu.command' },
  },
] satisfies RouteRecordRaw[]
