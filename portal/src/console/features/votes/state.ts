// How a vote's state is tagged on the list and the detail page.
export const STATE_TAG = { upcoming: 'info', open: 'success', closed: 'warning' } as const
