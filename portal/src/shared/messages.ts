// A feature's texts in both languages side by side; English must have exactly the keys of zh-CN.
export interface Bilingual<T> {
  'zh-CN': T
  en: NoInfer<T>
}

export function defineMessages<T>(messages: Bilingual<T>): Bilingual<T> {
  return messages
}

/** One language's texts: the shell's at the top level, each feature's under its name. */
export function messagesIn<T>(lang: keyof Bilingual<T>, shell: Bilingual<T>, features: Record<string, { messages: Bilingual<unknown> }>): T & Record<string, unknown> {
  const byFeature = Object.entries(features).map(([name, feature]) => [name, feature.messages[lang]])
  return { ...shell[lang], ...Object.fromEntries(byFeature) }
}
