import { createI18n } from 'vue-i18n'
import type { Lang } from '@/shared/locale'
import { storedLang } from '@/shared/locale'
import { FEATURES } from './features'
import shell from './messages'

type Messages = typeof shell['zh-CN'] & Record<string, unknown>

function messagesIn(lang: Lang): Messages {
  const features = Object.entries(FEATURES).map(([name, feature]) => [name, feature.messages[lang]])
  return { ...shell[lang], ...Object.fromEntries(features) }
}

export const i18n = createI18n<[Messages], Lang, false>({
  legacy: false,
  locale: storedLang(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': messagesIn('zh-CN'), en: messagesIn('en') },
})
