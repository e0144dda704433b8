// A feature's texts in both languages side by side; English must have exactly the keys of zh-CN.
export interface Bilingual<T> {
  'zh-CN': T
  en: NoInfer<T>
}

export function defineMessages<T>(messages: Bilingual<T>): Bilingual<T> {
  return messages
}
