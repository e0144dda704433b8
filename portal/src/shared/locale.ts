import { useI18n } from 'vue-i18n'
// The language choice, remembered per browser; zh-CN unless the user picked English.
export type Lang = 'zh-CN' | 'en'
const KEY = 'linli.lang'

export function storedLang(): Lang {
  return localStorage.getItem(KEY) === 'en' ? 'en' : 'zh-CN'
}

export function rememberLang(lang: Lang): void {
  localStorage.setItem(KEY, lang)
  document.documentElement.lang = lang
}

/** Switches between the two languages and remembers the choice. */
export function switchLang(locale: { value: string }): void {
  const next: Lang = locale.value === 'en' ? 'zh-CN' : 'en'
  locale.value = next
  rememberLang(next)
}

/** For a component's template: a function that switches the language of the surrounding i18n. */
export function useLanguageSwitch(): () => void {
  const { locale } = useI18n()
  return () => switchLang(locale)
}
