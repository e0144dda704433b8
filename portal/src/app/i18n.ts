import { createI18n } from 'vue-i18n'
import type { Lang } from '@/shared/locale'
import { storedLang } from '@/shared/locale'
import { messagesIn } from '@/shared/messages'
import { FEATURES } from './features'
import shell from './messages'

type Messages = (typeof shell)['zh-CN'] & Record<string, unknown>

export const i18n = createI18n<[Messages], Lang, false>({
  legacy: false,
  locale: storedLang(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': messagesIn('zh-CN', shell, FEATURES), en: messagesIn('en', shell, FEATURES) },
})
