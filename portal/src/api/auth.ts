// Signing in and out, shared by the console and the residents' app.
import { api, call } from './client'
import { tokens } from './tokens'

/** OAuth2 password flow: stores the token pair on success, throws the API's error otherwise. */
export async function signInWithPassword(username: string, password: string): Promise<void> {
  const issued = await call(
    api.POST('/api/v1/auth/token', {
      body: { username, password },
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    }),
  )
  tokens.store(issued.access_token, issued.refresh_token)
}

/** Ends the session on the server (its whole refresh-token family) and forgets the tokens here. */
export async function signOut(): Promise<void> {
  const refreshToken = tokens.refresh()
  try {
    if (refreshToken) await api.POST('/api/v1/auth/logout', { body: { refresh_token: refreshToken } })
  } finally {
    tokens.clear()
  }
}
