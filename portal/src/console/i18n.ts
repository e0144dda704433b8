import { createI18n } from 'vue-i18n'
import { storedLang } from '@/shared/locale'
import en from './locales/en'
import zhCN from './locales/zh-CN'

export const i18n = createI18n({
  legacy: false,
  locale: storedLang(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zhCN, en },
})
