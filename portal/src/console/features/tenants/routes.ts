import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'tenants',
    name: 'tenants',
    component: () => import('./TenantsView.vue'),
    meta: { needs: ['tenants', 'onboard'], menu: 'tenants.menu' },
  },
  {
    path: 'tenants/new',
    name: 'tenant-onboard',
    component: () => import('./OnboardView.vue'),
    meta: { needs: ['tenants', 'onboard'] },
  },
] satisfies RouteRecordRaw[]

/** Pages reached from a link before anyone is signed in: they stand outside the shell. */
export const outside = [
  { path: '/invite', name: 'invite', component: () => import('./PasswordView.vue'), meta: { public: true } },
  { path: '/reset-password', name: 'reset', component: () => import('./PasswordView.vue'), meta: { public: true } },
] satisfies RouteRecordRaw[]
