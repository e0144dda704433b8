import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'gate',
    name: 'gate',
    component: () => import('./GateView.vue'),
    meta: { needs: ['passes', 'verify'], menu: 'gate.menu' },
  },
] satisfies RouteRecordRaw[]
