import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'devices',
    name: 'devices',
    component: () => import('./DevicesView.vue'),
    meta: { needs: ['devices', 'read'], menu: 'menu.devices' },
  },
  {
    path: 'devices/register',
    name: 'device-register',
    component: () => import('./RegisterView.vue'),
    meta: { needs: ['devices', 'create'] },
  },
  {
    path: 'devices/bulk',
    name: 'device-bulk',
    component: () => import('./BulkView.vue'),
    meta: { needs: ['devices', 'create'] },
  },
  {
    path: 'devices/:id(\\d+)',
    name: 'device',
    component: () => import('./DeviceView.vue'),
    meta: { needs: ['devices', 'read'] },
  },
  {
    path: 'dead-letters',
    name: 'dead-letters',
    component: () => import('./DeadLettersView.vue'),
    meta: { needs: ['dead_letters', 'read'], menu: 'menu.deadLetters' },
  },
] satisfies RouteRecordRaw[]
