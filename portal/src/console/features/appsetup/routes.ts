import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'app-setup',
    name: 'appsetup',
    component: () => import('./AppSetupView.vue'),
    meta: { needs: ['services', 'update'], menu: 'appsetup.menu' },
  },
] satisfies RouteRecordRaw[]
