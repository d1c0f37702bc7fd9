// Types of react/index.mjs (an ES module: React hooks on top of the tracker).
import type { TrackerOptions } from '../tracker.mjs';

export interface UseSessionOptions {
  userId: string;
  modelGroup: string;
  /** Default "default". */
  experimentId?: string;
  /** Base URL of the gateway; '' (default) = same origin. */
  endpoint?: string;
}

/** Starts a session and returns its id (null until the server has answered). */
export declare function useSession(options: UseSessionOptions): string | null;

export interface UseEventTrackingOptions extends Omit<TrackerOptions, 'capture'> {
  /** From useSession; null/'' while the session is starting (events logged meanwhile are kept). */
  sessionId: string | null | undefined;
}

export declare function useEventTracking(options: UseEventTrackingOptions): {
  logEvent: (type: string, data?: Record<string, unknown>) => boolean;
};
