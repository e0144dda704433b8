import type { Schemas } from '@/api/client'

/** A node's name in the interface language: the English name where one is recorded. */
export function nodeName(node: Pick<Schemas['NodeOut'], 'name' | 'name_en'>, locale: string): string {
  return locale === 'en' && node.name_en ? node.name_en : node.name
}
