import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'people',
    name: 'people',
    component: () => import('./PeopleView.vue'),
    meta: { needs: ['users', 'read'], menu: 'people.menu' },
  },
] satisfies RouteRecordRaw[]
