import type { RouteRecordRaw } from 'vue-router'

export default [
  { path: '/s/share/:code', name: 'service-share', component: () => import('./ShareView.vue') },
  { path: '/s/share/:code/new', name: 'share-offer', component: () => import('./ShareOfferView.vue') },
  { path: '/s/share/:code/loans', name: 'share-loans', component: () => import('./ShareLoansView.vue') },
] satisfies RouteRecordRaw[]
