import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'device-types',
    name: 'devicetypes',
    component: () => import('./DeviceTypesView.vue'),
    meta: { needs: ['device_types', 'read'], menu: 'devicetypes.menu' },
  },
] satisfies RouteRecordRaw[]
