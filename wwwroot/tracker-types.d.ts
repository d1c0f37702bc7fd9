// The tracker's types, shared by the CommonJS (tracker.d.ts) and the ES module (tracker.d.mts) declarations.
/** Options of SessionTracker.start / attach (defaults in docs/tracker.md). */
export interface TrackerOptions {
  /** Base URL of the gateway; '' (default) = same origin. */
  endpoint?: string;
  trackScroll?: boolean;
  trackClicks?: boolean;
  trackHover?: boolean;
  trackSelection?: boolean;
  trackActivity?: boolean;
  trackKeys?: boolean;
  trackNavigation?: boolean;
  trackErrors?: boolean;
  scrollThrottle?: number;
  activityIdleTimeout?: number;
  hoverDelay?: number;
  maxTextLength?: number;
  ignoreAttribute?: string;
  respectDoNotTrack?: boolean;
  batchSize?: number;
  flushInterval?: number;
  maxBatchBytes?: number;
  retryBaseDelay?: number;
  retryMaxDelay?: number;
  maxQueueSize?: number;
  persist?: boolean;
  orphanAge?: number;
  onError?: ((error: Error) => void) | null;
  /** attach() only: false attaches without automatic capture. */
  capture?: boolean;
}

export interface StartOptions extends TrackerOptions {
  userId: string;
  modelGroup: string;
  experimentId?: string;
  /** Merged over the detected environment (device, browser, os, viewport, language, connection). */
  environment?: Record<string, unknown>;
}

export interface TrackerStats {
  queued: number;
  sent: number;
  duplicates: number;
  dropped: number;
  retries: number;
}

export interface Tracker {
  /** null when the tracker is disabled (Do-Not-Track / GPC with respectDoNotTrack, or no fetch). */
  readonly sessionId: string | null;
  readonly ended: boolean;
  readonly stats: TrackerStats;
  readonly disabled?: string;
  logEvent(type: string, data?: Record<string, unknown>): boolean;
  flush(): Promise<boolean>;
  end(): Promise<boolean>;
  startCapture(options?: TrackerOptions): Tracker;
  stopCapture(): Tracker;
  pending(): number;
}

export interface Environment {
  device: 'desktop' | 'mobile' | 'tablet';
  browser: string;
  os: string;
  viewport: { width: number; height: number };
  language: string;
  connection: string;
}

export interface SessionTrackerApi {
  readonly version: string;
  readonly defaults: Required<Omit<TrackerOptions, 'capture'>>;
  start(options: StartOptions): Promise<Tracker>;
  attach(sessionId: string, options?: TrackerOptions): Tracker;
  createSession(options: StartOptions): Promise<string>;
  detectEnvironment(): Environment;
  drainOrphans(endpoint?: string, exceptSessionId?: string): Promise<void>;
  get(sessionId: string): Tracker | null;
}

declare global {
  // The script tag's global (tracker.js installs it).
  // eslint-disable-next-line no-var
  var SessionTracker: SessionTrackerApi;
}
