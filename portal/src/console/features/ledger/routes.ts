import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'ledger-import',
    name: 'ledger-import',
    component: () => import('./LedgerImportView.vue'),
    meta: { needs: ['residents', 'create'], menu: 'ledger.menu' },
  },
] satisfies RouteRecordRaw[]
