// Reordering services inside their section: the API takes the whole order of codes at once.
export interface Ordered {
  code: string
  section: string
}

/** `list` with `code` moved to where `target` is (dragging) — only within one section. */
export function moveTo<T extends Ordered>(list: T[], code: string, target: string): T[] {
  const from = list.findIndex((s) => s.code === code)
  const to = list.findIndex((s) => s.code === target)
  if (from < 0 || to < 0 || from === to || list[from]?.section !== list[to]?.section) return list
  const moved = [...list]
  moved.splice(to, 0, ...moved.splice(from, 1))
  return moved
}

/** `list` with `code` swapped with its neighbour in the same section (the keyboard's up and down). */
export function moveBy<T extends Ordered>(list: T[], code: string, step: -1 | 1): T[] {
  const section = list.find((s) => s.code === code)?.section
  const peers = list.filter((s) => s.section === section)
  const index = peers.findIndex((s) => s.code === code)
  const neighbour = peers[index + step]
  return neighbour ? moveTo(list, code, neighbour.code) : list
}
