// The script-tag API as typed by wwwroot/tracker.d.ts: the global and the module export are the same object.
import { SessionTracker } from 'orleans-session-tracking';

export async function example(): Promise<void> {
  const tracker = await SessionTracker.start({ userId: 'u1', modelGroup: 'gpt-4', experimentId: 'e1', trackHover: true });
  const id: string | null = tracker.sessionId;
  tracker.logEvent('feedback', { feedback: 'up' });
  await tracker.flush();
  await tracker.end();
  const same: typeof SessionTracker = globalThis.SessionTracker;
  void id;
  void same;
}
