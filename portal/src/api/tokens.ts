// Tokens live in sessionStorage: a tab keeps its session across reloads, closing it signs out.
const ACCESS = 'linli.access_token'
const REFRESH = 'linli.refresh_token'
const listeners = new Set<() => void>()

export const tokens = {
  access: (): string | null => sessionStorage.getItem(ACCESS),
  refresh: (): string | null => sessionStorage.getItem(REFRESH),
  store(access: string, refresh: string): void {
    sessionStorage.setItem(ACCESS, access)
    sessionStorage.setItem(REFRESH, refresh)
  },
  clear(): void {
    const had = sessionStorage.getItem(ACCESS) !== null
    sessionStorage.removeItem(ACCESS)
    sessionStorage.removeItem(REFRESH)
    if (had) listeners.forEach((listener) => listener())
  },
  /** Called when the session ends without the user asking (refresh refused): the shell shows sign-in. */
  onCleared(listener: () => void): void {
    listeners.add(listener)
  },
}
