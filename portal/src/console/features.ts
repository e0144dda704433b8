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
import ledgerMessages from './features/ledger/messages'
import ledgerRoutes from './features/ledger/routes'
import residentappMessages from './features/residentapp/messages'
import residentappRoutes from './features/residentapp/routes'
import appsetupMessages from './features/appsetup/messages'
import appsetupRoutes from './features/appsetup/routes'
import peopleMessages from './features/people/messages'
import peopleRoutes from './features/people/routes'
import tenantsMessages from './features/tenants/messages'
import tenantsRoutes, { outside as tenantsOutside } from './features/tenants/routes'
import residentsMessages from './features/residents/messages'
import residentsRoutes from './features/residents/routes'
import routingMessages from './features/routing/messages'
import routingRoutes from './features/routing/routes'
import gateMessages from './features/gate/messages'
import gateRoutes from './features/gate/routes'
import careMessages from './features/care/messages'
import careRoutes from './features/care/routes'
import patrolMessages from './features/patrol/messages'
import patrolRoutes from './features/patrol/routes'
import activitiesMessages from './features/activities/messages'
import activitiesRoutes from './features/activities/routes'
import bookingsMessages from './features/bookings/messages'
import bookingsRoutes from './features/bookings/routes'
import pointsMessages from './features/points/messages'
import pointsRoutes from './features/points/routes'
import votesMessages from './features/votes/messages'
import votesRoutes from './features/votes/routes'
import sharingMessages from './features/sharing/messages'
import sharingRoutes from './features/sharing/routes'

/** The menu's sections, in order; each feature's pages show under its section. */
export const MENU_GROUPS = ['command', 'iot', 'residents', 'life', 'field', 'admin'] as const
export type MenuGroup = (typeof MENU_GROUPS)[number]

interface Feature {
  group: MenuGroup
  routes: RouteRecordRaw[]
  messages: Bilingual<unknown>
  /** Pages outside the shell, opened from a link before anyone signs in (meta.public). */
  outside?: RouteRecordRaw[]
}

export const FEATURES: Record<string, Feature> = {
  command: { group: 'command', routes: commandRoutes, messages: commandMessages },
  events: { group: 'command', routes: eventsRoutes, messages: eventsMessages },
  alarms: { group: 'command', routes: alarmsRoutes, messages: alarmsMessages },
  devices: { group: 'iot', routes: devicesRoutes, messages: devicesMessages },
  ledger: { group: 'residents', routes: ledgerRoutes, messages: ledgerMessages },
  residentapp: { group: 'residents', routes: residentappRoutes, messages: residentappMessages },
  tenants: { group: 'admin', routes: tenantsRoutes, messages: tenantsMessages, outside: tenantsOutside },
  people: { group: 'admin', routes: peopleRoutes, messages: peopleMessages },
  appsetup: { group: 'residents', routes: appsetupRoutes, messages: appsetupMessages },
  devicetypes: { group: 'iot', routes: devicetypesRoutes, messages: devicetypesMessages },
  residents: { group: 'residents', routes: residentsRoutes, messages: residentsMessages },
  routing: { group: 'admin', routes: routingRoutes, messages: routingMessages },
  audit: { group: 'admin', routes: auditRoutes, messages: auditMessages },
  gate: { group: 'life', routes: gateRoutes, messages: gateMessages },
  patrol: { group: 'field', routes: patrolRoutes, messages: patrolMessages },
  care: { group: 'field', routes: careRoutes, messages: careMessages },
  activities: { group: 'life', routes: activitiesRoutes, messages: activitiesMessages },
  bookings: { group: 'life', routes: bookingsRoutes, messages: bookingsMessages },
  points: { group: 'life', routes: pointsRoutes, messages: pointsMessages },
  votes: { group: 'life', routes: votesRoutes, messages: votesMessages },
  sharing: { group: 'life', routes: sharingRoutes, messages: sharingMessages },
}
