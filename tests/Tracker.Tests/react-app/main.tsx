// Mounts the guide's page the way a Next.js/Vite app would, in StrictMode (effects run twice in development).
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import HomePage from './page';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <HomePage />
  </StrictMode>,
);
