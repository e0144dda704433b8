import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'bookings',
    name: 'resources',
    component: () => import('./ResourcesView.vue'),
    meta: { needs: ['bookings', 'read'], menu: 'bookings.menu' },
  },
  {
    path: 'bookings/:resourceId(\\d+)',
    name: 'resource-week',
    component: () => import('./WeekView.vue'),
    props: true,
    meta: { needs: ['bookings', 'read'] },
  },
] satisfies RouteRecordRaw[]
