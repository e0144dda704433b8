import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router'
import { tokens } from '@/api/tokens'
import { FEATURES } from './features'

// What a page needs to be in the menu and to be opened: a resource and action its grants allow.
declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    needs?: [resource: string, action: string]
    menu?: string
  }
}

const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
  ...Object.values(FEATURES).flatMap((feature) => feature.outside ?? []),
  {
    path: '/',
    component: () => import('./components/ShellLayout.vue'),
    children: [
      { path: '', redirect: { name: 'command' } },
      ...Object.values(FEATURES).flatMap((feature) => feature.routes),
      { path: ':rest(.*)*', name: 'not-found', component: () => import('./views/NotFoundView.vue') },
    ],
  },
]

export const router = createRouter({ history: createWebHashHistory(), routes })

router.beforeEach((to) => {
  if (!to.meta.public && !tokens.access()) return { name: 'login', query: { next: to.fullPath } }
  return true
})
