// A refusal the API names by its code, in the resident's language when the feature words it (its
// `refusals` texts), else as the API put it.
import { ApiError } from '@/api/client'
import { i18n } from './i18n'

export function inWords(exc: unknown, feature: string): unknown {
  if (!(exc instanceof ApiError)) return exc
  const key = `${feature}.refusals.${exc.code}`
  return i18n.global.te(key) ? new ApiError(exc.status, exc.code, i18n.global.t(key), exc.details) : exc
}

/** The call's data, or its refusal in the feature's words. */
export async function worded<T>(feature: string, pending: Promise<T>): Promise<T> {
  try {
    return await pending
  } catch (exc) {
    throw inWords(exc, feature)
  }
}
