// The console's features: each brings its routes (under the shell) and its texts (under its name).
// Adding a feature is one line here.
import type { RouteRecordRaw } from 'vue-router'
import type { Bilingual } from '@/shared/messages'
import alarmsMessages from './features/alarms/messages'
import alarmsRoutes from './features/alarms/routes'
import commandMessages from './features/command/messages'
import commandRoutes from './features/command/routes'
import devicesMessages from './features/devices/messages'
import devicesRoutes from './features/devices/routes'
import eventsMessages from './features/events/messages'
import eventsRoutes from './features/events/routes'
import gateMessages from './features/gate/messages'
import gateRoutes from './features/gate/routes'

interface Feature {
  routes: RouteRecordRaw[]
  messages: Bilingual<unknown>
}

export const FEATURES: Record<string, Feature> = {
  command: { routes: commandRoutes, messages: commandMessages },
  events: { routes: eventsRoutes, messages: eventsMessages },
  alarms: { routes: alarmsRoutes, messages: alarmsMessages },
  devices: { routes: devicesRoutes, messages: devicesMessages },
  gate: { routes: gateRoutes, messages: gateMessages },
}
