// Who is signed in and what their grants allow. The menu and every control ask `can()`, which reads
// GET /api/v1/me/permissions (casbin's answer), so the console never hard-codes what a role may do.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, call, type Schemas } from '@/api/client'
import { signInWithPassword, signOut as endSession } from '@/api/auth'
import { tokens } from '@/api/tokens'

export type Me = Schemas['MeOut']
export type Permissions = Schemas['MyPermissionsOut']

const READ_ACTIONS = new Set(['read', 'export'])

export const useSession = defineStore('session', () => {
  const me = ref<Me | null>(null)
  const permissions = ref<Permissions | null>(null)

  const signedIn = computed(() => me.value !== null)

  function can(resource: string, action: string): boolean {
    const allowed = permissions.value?.allowed ?? {}
    return (allowed[resource] ?? []).includes(action) || (allowed['*'] ?? []).includes(action)
  }

  /** True when nothing the user holds may change anything: the auditor's read-only banner. */
  const readOnly = computed(() => {
    const allowed = permissions.value?.allowed ?? {}
    return Object.values(allowed).every((actions) => actions.every((action) => READ_ACTIONS.has(action)))
  })

  async function load(): Promise<void> {
    if (!tokens.access()) return
    const [who, grants] = await Promise.all([
      call(api.GET('/api/v1/me')),
      call(api.GET('/api/v1/me/permissions')),
    ])
    me.value = who
    permissions.value = grants
  }

  async function signIn(username: string, password: string): Promise<void> {
    await signInWithPassword(username, password)
    await load()
  }

  async function signOut(): Promise<void> {
    try {
      await endSession()
    } finally {
      forget()
    }
  }

  function forget(): void {
    tokens.clear()
    me.value = null
    permissions.value = null
  }

  return { me, permissions, signedIn, readOnly, can, load, signIn, signOut, forget }
})
