import type { RouteRecordRaw } from 'vue-router'

export default [
  {
    path: 'votes',
    name: 'votes',
    component: () => import('./VotesView.vue'),
    meta: { needs: ['votes', 'read'], menu: 'votes.menu' },
  },
  {
    path: 'votes/new',
    name: 'vote-new',
    component: () => import('./VoteNewView.vue'),
    meta: { needs: ['votes', 'create'] },
  },
  {
    path: 'votes/:voteId(\\d+)',
    name: 'vote',
    component: () => import('./VoteView.vue'),
    props: true,
    meta: { needs: ['votes', 'read'] },
  },
] satisfies RouteRecordRaw[]
