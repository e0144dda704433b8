// The residents' app texts, zh-CN first.
import { defineMessages } from '@/shared/messages'

export default defineMessages({
  'zh-CN': {
    lang: { switch: 'English' },
    tabs: { home: '首页', services: '办事', report: '随手拍', me: '我的' },
    login: {
      title: '登录',
      phone: '手机号',
      phonePlaceholder: '请输入手机号',
      password: '密码',
      passwordPlaceholder: '请输入密码',
      submit: '登录',
      withPassword: '使用密码登录',
    },
    home: { sections: '服务', openItems: '我的待办', noOpenItems: '暂无进行中的事项', notices: '通知公告' },
    services: { title: '全部服务', unavailable: '该服务暂未开放' },
    me: { title: '我的', signOut: '退出登录', language: '语言', household: '我的房屋' },
    errors: { tenant: '找不到该社区的应用', generic: '出错了，请稍后再试' },
    common: { loading: '加载中…', retry: '重试', back: '返回' },
  },
  en: {
    lang: { switch: '中文' },
    tabs: { home: 'Home', services: 'Services', report: 'Report', me: 'Me' },
    login: {
      title: 'Sign in',
      phone: 'Phone',
      phonePlaceholder: 'Your mobile number',
      password: 'Password',
      passwordPlaceholder: 'Your password',
      submit: 'Sign in',
      withPassword: 'Sign in with a password',
    },
    home: { sections: 'Services', openItems: 'My open items', noOpenItems: 'Nothing in progress', notices: 'Notices' },
    services: { title: 'All services', unavailable: 'This service is not available yet' },
    me: { title: 'Me', signOut: 'Sign out', language: 'Language', household: 'My home' },
    errors: { tenant: 'There is no app for this community', generic: 'Something went wrong, please try again' },
    common: { loading: 'Loading…', retry: 'Retry', back: 'Back' },
  },
})
