// Types of tracker.mjs, the ES module entry (`import`).
import type { SessionTrackerApi } from './tracker-types.js';

export type { Environment, SessionTrackerApi, StartOptions, Tracker, TrackerOptions, TrackerStats } from './tracker-types.js';

export declare const SessionTracker: SessionTrackerApi;
export default SessionTracker;
