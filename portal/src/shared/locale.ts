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
