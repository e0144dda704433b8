import { createRouter, createWebHashHistory } from 'vue-router'
import { tokens } from '@/api/tokens'
import { FEATURES } from './features'

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
    { path: '/report', name: 'report', component: () => import('./views/ReportView.vue'), meta: { tab: true } },
    // A service opens the page of its kind (ServiceGrid pushes `service-<kind>` with its code).
    { path: '/s/report/:code', name: 'service-report', component: () => import('./views/ReportView.vue') },
    { path: '/reports', name: 'my-reports', component: () => import('./views/MyReportsView.vue') },
    { path: '/reports/:id', name: 'my-report', component: () => import('./views/MyReportView.vue') },
    { path: '/s/info/:code', name: 'service-info', component: () => import('./views/NoticesView.vue') },
    { path: '/notices', name: 'notices', component: () => import('./views/NoticesView.vue') },
    { path: '/notices/:id', name: 'notice', component: () => import('./views/NoticeView.vue') },
    { path: '/s/form/:code', name: 'service-form', component: () => import('./views/FormView.vue') },
    { path: '/cases/:id', name: 'my-case', component: () => import('./views/CaseView.vue') },
    { path: '/inbox', name: 'inbox', component: () => import('./views/InboxView.vue') },
    ...Object.values(FEATURES).flatMap((feature) => feature.routes),
    { path: '/:rest(.*)*', redirect: { name: 'home' } },
  ],
})

router.beforeEach((to) => {
  if (!to.meta.public && !tokens.access()) return { name: 'login', query: { next: to.fullPath } }
  return true
})
