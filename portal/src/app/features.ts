// The app's community-life features: each service kind brings its pages (route `service-<kind>` opens it
// from the service grid, see ServiceGrid.vue) and its texts (under its name). Adding one is one line here.
import type { RouteRecordRaw } from 'vue-router'
import type { Bilingual } from '@/shared/messages'
import bookingMessages from './features/booking/messages'
import bookingRoutes from './features/booking/routes'
import pointsMessages from './features/points/messages'
import pointsRoutes from './features/points/routes'
import signupMessages from './features/signup/messages'
import signupRoutes from './features/signup/routes'
import passMessages from './features/pass/messages'
import passRoutes from './features/pass/routes'
import shareMessages from './features/share/messages'
import shareRoutes from './features/share/routes'
import voteMessages from './features/vote/messages'
import voteRoutes from './features/vote/routes'

interface Feature {
  routes: RouteRecordRaw[]
  messages: Bilingual<unknown>
}

export const FEATURES: Record<string, Feature> = {
  signup: { routes: signupRoutes, messages: signupMessages },
  booking: { routes: bookingRoutes, messages: bookingMessages },
  points: { routes: pointsRoutes, messages: pointsMessages },
  pass: { routes: passRoutes, messages: passMessages },
  vote: { routes: voteRoutes, messages: voteMessages },
  share: { routes: shareRoutes, messages: shareMessages },
}
