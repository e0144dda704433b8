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

interface Feature {
  routes: RouteRecordRaw[]
  messages: Bilingual<unknown>
  /** Pages outside the shell, opened from a link before anyone signs in (meta.public). */
  outside?: RouteRecordRaw[]
}

export const FEATURES: Record<string, Feature> = {
  command: { routes: commandRoutes, messages: commandMessages },
  events: { routes: eventsRoutes, messages: eventsMessages },
  alarms: { routes: alarmsRoutes, messages: alarmsMessages },
  devices: { routes: devicesRoutes, messages: devicesMessages },
  ledger: { routes: ledgerRoutes, messages: ledgerMessages },
  residentapp: { routes: residentappRoutes, messages: residentappMessages },
  tenants: { routes: tenantsRoutes, messages: tenantsMessages, outside: tenantsOutside },
  people: { routes: peopleRoutes, messages: peopleMessages },
  appsetup: { routes: appsetupRoutes, messages: appsetupMessages },
  devicetypes: { routes: devicetypesRoutes, messages: devicetypesMessages },
  residents: { routes: residentsRoutes, messages: residentsMessages },
  routing: { routes: routingRoutes, messages: routingMessages },
  audit: { routes: auditRoutes, messages: auditMessages },
  gate: { routes: gateRoutes, messages: gateMessages },
  patrol: { routes: patrolRoutes, messages: patrolMessages },
  care: { routes: careRoutes, messages: careMessages },
  activities: { routes: activitiesRoutes, messages: activitiesMessages },
  bookings: { routes: bookingsRoutes, messages: bookingsMessages },
  points: { routes: pointsRoutes, messages: pointsMessages },
  votes: { routes: votesRoutes, messages: votesMessages },
  sharing: { routes: sharingRoutes, messages: sharingMessages },
}
