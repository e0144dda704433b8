// The console's features: each brings its routes (under the shell) and its texts (under its name).
// Adding a feature is one line here.
import type { RouteRecordRaw } from 'vue-router'
import type { Bilingual } from '@/shared/messages'
import alarmsMessages from './features/alarms/messages'
import alarmsRoutes from './features/alarms/routes'
import auditMessages from './features/audit/messages'
import auditRoutes from './features/audit/routes'
import commandMessages from './features/command/messages'
import commandRoutes from './features/command/routes'
import devicesMessages from './features/devices/messages'
import devicesRoutes from './features/devices/routes'
import devicetypesMessages from './features/devicetypes/messages'
import devicetypesRoutes from './features/devicetypes/routes'
import eventsMessages from './features/events/messages'
import eventsRoutes from './features/events/routes'
import residentsMessages from './features/residents/messages'
import residentsRoutes from './features/residents/routes'
import routingMessages from './features/routing/messages'
import routingRoutes from './features/routing/routes'

interface Feature {
  routes: RouteRecordRaw[]
  messages: Bilingual<unknown>
}

export const FEATURES: Record<string, Feature> = {
  command: { routes: commandRoutes, messages: commandMessages },
  events: { routes: eventsRoutes, messages: eventsMessages },
  alarms: { routes: alarmsRoutes, messages: alarmsMessages },
  devices: { routes: devicesRoutes, messages: devicesMessages },
  devicetypes: { routes: devicetypesRoutes, messages: devicetypesMessages },
  residents: { routes: residentsRoutes, messages: residentsMessages },
  routing: { routes: routingRoutes, messages: routingMessages },
  audit: { routes: auditRoutes, messages: auditMessages },
}
