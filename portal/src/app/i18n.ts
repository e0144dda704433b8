import { createI18n } from 'vue-i18n'
import type { Lang } from '@/shared/locale'
import { storedLang } from '@/shared/locale'
import messages from './messages'

export const i18n = createI18n<[(typeof messages)['zh-CN']], Lang, false>({
  legacy: false,
  locale: storedLang(),
  fallbackLocale: 'zh-CN',
  messages,
})
