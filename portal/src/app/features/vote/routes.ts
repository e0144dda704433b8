import type { RouteRecordRaw } from 'vue-router'

export default [
  { path: '/s/vote/:code', name: 'service-vote', component: () => import('./VotesView.vue') },
  { path: '/s/vote/:code/:id(\\d+)', name: 'vote-detail', component: () => import('./VoteView.vue') },
] satisfies RouteRecordRaw[]
