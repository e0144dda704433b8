import { createRouter, createWebHashHistory } from 'vue-router'
import { tokens } from '@/api/tokens'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    tab?: boolean
  }
}

export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
    { path: '/', name: 'home', component: () => import('./views/HomeView.vue'), meta: { tab: true } },
    { path: '/services', name: 'services', component: () => import('./views/ServicesView.vue'), meta: { tab: true } },
    { path: '/me', name: 'me', component: () => import('./views/MeView.vue'), meta: { tab: true } },
    { path: '/:rest(.*)*', redirect: { name: 'home' } },
  ],
})

router.beforeEach((to) => {
  if (!to.meta.public && !tokens.access()) return { name: 'login', query: { next: to.fullPath } }
  return true
})
