import type { RouteRecordRaw } from 'vue-router'

export default [
  { path: '/s/booking/:code', name: 'service-booking', component: () => import('./BookingView.vue') },
  { path: '/s/booking/:code/r/:id', name: 'booking-resource', component: () => import('./ResourceView.vue') },
] satisfies RouteRecordRaw[]
