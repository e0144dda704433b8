// Console texts, zh-CN first. en.ts must have exactly the same keys (its type says so).
const zhCN = {
  product: '邻里 · 社区治理',
  lang: { switch: 'English', name: '中文' },
  login: {
    title: '登录工作台',
    username: '账号（邮箱或手机号）',
    password: '密码',
    submit: '登录',
    failed: '登录失败',
  },
  user: { menu: '用户菜单', signOut: '退出登录', signedOutElsewhere: '登录已过期，请重新登录' },
  menu: {
    open: '打开菜单',
    command: '指挥中心',
    events: '事件中心',
    alarms: '告警',
    devices: '设备',
    deadLetters: '异常数据',
  },
  node: {
    switcher: '切换区域',
    all: '全部',
    pick: '选择区域',
    levels: { district: '区', street: '街道', community: '社区', grid: '网格', estate: '小区', building: '楼栋', unit: '单元', floor: '楼层', space: '空间' },
  },
  command: { total: '事件总数', open: '办理中', avgResolve: '平均办结时长', satisfaction: '满意度', child: '下级区域' },
  readonly: '只读账号：您可以查看，但不能更改任何内容',
  common: {
    loading: '加载中…',
    empty: '暂无数据',
    retry: '重试',
    more: '加载更多',
    cancel: '取消',
    confirm: '确定',
    save: '保存',
    close: '关闭',
    copy: '复制',
    copied: '已复制',
    search: '搜索',
    reset: '重置',
    actions: '操作',
    error: '出错了',
    notFound: '页面不存在',
  },
}
export default zhCN
export type ConsoleMessages = typeof zhCN
