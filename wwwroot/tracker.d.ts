// Types of tracker.js as a CommonJS module or script (`require`, `<script>`).
import type { SessionTrackerApi } from './tracker-types.js';

export type { Environment, SessionTrackerApi, StartOptions, Tracker, TrackerOptions, TrackerStats } from './tracker-types.js';

export declare const SessionTracker: SessionTrackerApi;
export default SessionTracker;
