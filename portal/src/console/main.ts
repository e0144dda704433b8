import { createPinia } from 'pinia'
import { createApp } from 'vue'
import 'element-plus/theme-chalk/base.css'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import App from './App.vue'
import { i18n } from './i18n'
import { router } from './router'
import './console.css'

createApp(App).use(createPinia()).use(router).use(i18n).mount('#app')
