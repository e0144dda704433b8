import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'activities',
    name: 'activities',
    component: () => import('./ActivitiesView.vue'),
    meta: { needs: ['activities', 'read'], menu: 'activities.menu' },
  },
  {
    path: 'activities/new',
    name: 'activity-new',
    component: () => import('./ActivityNewView.vue'),
    meta: { needs: ['activities', 'create'] },
  },
  {
    path: 'activities/:activityId(\\d+)',
    name: 'activity',
    component: () => import('./ActivityView.vue'),
    props: true,
    meta: { needs: ['activities', 'read'] },
  },
] satisfies RouteRecordRaw[]
