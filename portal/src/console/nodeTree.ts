// The node tree as Element Plus trees load it, a level at a time from the user's top nodes (the node
// switcher's picker and the device form's place picker).
import type Node from 'element-plus/es/components/tree/src/model/node'
import { useI18n } from 'vue-i18n'
import { nodeName } from './nodeName'
import { useNodes, type TreeNode } from './stores/node'

export interface TreeItem {
  id: number
  label: string
  leaf: boolean
}

export const treeProps = { label: 'label', isLeaf: 'leaf' }

export function useNodeTree() {
  const { t, locale } = useI18n()
  const nodes = useNodes()

  function item(node: TreeNode): TreeItem {
    return {
      id: node.id,
      label: `${nodeName(node, locale.value)} · ${t(`node.levels.${node.level}`)}`,
      leaf: node.level === 'estate',
    }
  }

  async function load(node: Node, resolve: (data: TreeItem[]) => void): Promise<void> {
    const found = node.level === 0 ? await nodes.byIds(nodes.roots) : await nodes.children((node.data as TreeItem).id)
    resolve(found.map(item))
  }

  return { item, load }
}
