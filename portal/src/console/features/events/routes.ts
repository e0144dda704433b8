import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'events/new',
    name: 'event-new',
    component: () => import('./EventNewView.vue'),
    meta: { needs: ['events', 'create'] },
  },
  {
    // The list; with an id the event's detail opens over it (a drawer, full screen on a phone).
    path: 'events/:eventId?',
    name: 'events',
    component: () => import('./EventsView.vue'),
    meta: { needs: ['events', 'read'], menu: 'menu.events' },
  },
] satisfies RouteRecordRaw[]
