import type { ConsoleMessages } from './zh-CN'

const en: ConsoleMessages = {
  product: 'Linli · Community governance',
  lang: { switch: '中文', name: 'English' },
  login: {
    title: 'Sign in to the console',
    username: 'Account (e-mail or phone)',
    password: 'Password',
    submit: 'Sign in',
    failed: 'Sign-in failed',
  },
  user: { menu: 'User menu', signOut: 'Sign out', signedOutElsewhere: 'Your session has expired: please sign in again' },
  menu: {
    open: 'Open the menu',
    command: 'Command screen',
    events: 'Events',
    alarms: 'Alarms',
    devices: 'Devices',
    deadLetters: 'Dead letters',
  },
  node: {
    switcher: 'Switch area',
    all: 'All',
    pick: 'Choose an area',
    levels: { district: 'District', street: 'Street', community: 'Community', grid: 'Grid', estate: 'Estate', building: 'Building', unit: 'Unit', floor: 'Floor', space: 'Space' },
  },
  command: { total: 'Events', open: 'Open', avgResolve: 'Average time to resolve', satisfaction: 'Satisfaction', child: 'Area below' },
  readonly: 'Read-only account: you can look at everything here but change nothing',
  common: {
    loading: 'Loading…',
    empty: 'Nothing here yet',
    retry: 'Retry',
    more: 'Load more',
    cancel: 'Cancel',
    confirm: 'OK',
    save: 'Save',
    close: 'Close',
    copy: 'Copy',
    copied: 'Copied',
    search: 'Search',
    reset: 'Reset',
    actions: 'Actions',
    error: 'Something went wrong',
    notFound: 'There is no such page',
  },
}
export default en
