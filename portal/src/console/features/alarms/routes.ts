import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'alarms',
    name: 'alarms',
    component: () => import('./AlarmsView.vue'),
    meta: { needs: ['alarms', 'read'], menu: 'menu.alarms' },
  },
] satisfies RouteRecordRaw[]
