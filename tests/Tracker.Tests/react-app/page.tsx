// The guide's page example ("Frontend Integration"), verbatim except for the two import paths.
// app/page.tsx or your main component
'use client';

import { useState, useEffect } from 'react';
import { useSession } from 'orleans-session-tracking/react';
import { useEventTracking } from 'orleans-session-tracking/react';

export default function HomePage() {
  const [userId] = useState(() =>
    localStorage.getItem('userId') || `user_${Date.now()}`
  );
  const [modelGroup] = useState('gpt-4'); // or 'claude-3.5-sonnet', etc.

  // Initialize session tracking
  const sessionId = useSession({
    userId,
    modelGroup,
    experimentId: 'experiment_v1',
  });

  // Initialize event tracking
  const { logEvent } = useEventTracking({
    sessionId,
    trackScroll: true,
    trackClicks: true,
    trackSelection: true,
    trackActivity: true,
  });

  // Save userId to localStorage
  useEffect(() => {
    localStorage.setItem('userId', userId);
  }, [userId]);

  // Example: Log custom events
  const handleFeedback = (feedback: 'up' | 'down') => {
    logEvent('feedback', { feedback });
  };

  return (
    <div>
      <h1>LLM Chat Interface</h1>
      {/* Your chat UI here */}

      <button onClick={() => handleFeedback('up')}>👍</button>
      <button onClick={() => handleFeedback('down')}>👎</button>
    </div>
  );
}
