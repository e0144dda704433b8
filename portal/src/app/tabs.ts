// The bottom tabs, in order; a tab shows when its route exists (features add theirs in router.ts).
export const TABS = [
  { name: 'home', icon: 'home-o', label: 'tabs.home' },
  { name: 'services', icon: 'apps-o', label: 'tabs.services' },
  { name: 'report', icon: 'photograph', label: 'tabs.report' },
  { name: 'me', icon: 'user-o', label: 'tabs.me' },
] as const
