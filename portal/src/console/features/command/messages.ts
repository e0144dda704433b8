import { defineMessages } from '@/shared/messages'

export default defineMessages({
  'zh-CN': { total: '事件总数', open: '办理中', avgResolve: '平均办结时长', satisfaction: '满意度', child: '下级区域' },
  en: { total: 'Events', open: 'Open', avgResolve: 'Average time to resolve', satisfaction: 'Satisfaction', child: 'Area below' },
})
