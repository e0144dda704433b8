import { describe, expect, it } from 'vitest'
import { useCursorList } from './cursorList'

describe('useCursorList', () => {
  it('reads the first page, appends the next one by its cursor and starts over on a plain load', async () => {
    const asked: (string | undefined)[] = []
    const pages: Record<string, { items: number[]; next_cursor: string | null }> = {
      first: { items: [1, 2], next_cursor: 'c2' },
      c2: { items: [3], next_cursor: null },
    }
    const list = useCursorList(async (cursor) => {
      asked.push(cursor)
      return pages[cursor ?? 'first']!
    }, () => 'failed')
    await list.load()
    expect([list.items.value, list.next.value]).toEqual([[1, 2], 'c2'])
    await list.load(true)
    expect([list.items.value, list.next.value]).toEqual([[1, 2, 3], null])
    await list.load()
    expect(list.items.value).toEqual([1, 2])
    expect(asked).toEqual([undefined, 'c2', undefined])
  })
  it("keeps the rows it has and shows the API's message when a page fails", async () => {
    const list = useCursorList<number>(async () => {
      throw new Error('the alarm is cleared')
    }, () => 'failed')
    await list.load()
    expect([list.error.value, list.loading.value, list.items.value]).toEqual(['the alarm is cleared', false, []])
  })
})
