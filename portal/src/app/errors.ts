// A failed call told the resident: the API's own message, else a general one in their language.
import { showFailToast } from 'vant'
import { ApiError } from '@/api/client'
import { i18n } from './i18n'

export function showError(exc: unknown): void {
  showFailToast(exc instanceof ApiError ? exc.message : i18n.global.t('errors.generic'))
}
