import type { RouteRecordRaw } from 'vue-router'

// The resident app's console side: notices staff publish, form cases they review, requests to join.
export default [
  {
    path: 'resident-app/notices',
    name: 'resident-notices',
    component: () => import('./NoticesView.vue'),
    meta: { needs: ['notices', 'read'], menu: 'residentapp.menu.notices' },
  },
  {
    path: 'resident-app/cases/:caseId?',
    name: 'form-cases',
    component: () => import('./FormCasesView.vue'),
    meta: { needs: ['form_cases', 'read'], menu: 'residentapp.menu.cases' },
  },
  {
    path: 'resident-app/join-requests',
    name: 'join-requests',
    component: () => import('./JoinRequestsView.vue'),
    meta: { needs: ['join_requests', 'read'], menu: 'residentapp.menu.joins' },
  },
] satisfies RouteRecordRaw[]
