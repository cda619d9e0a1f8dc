import { afterAll } from 'vitest';
import { killLeftoverServers } from './helpers/server.js';

// after every test file: servers a failed test could not stop are killed, and said so
afterAll(() => {
  const killed = killLeftoverServers();
  if (killed) console.warn(`killed ${killed} server(s) a test left running`);
});
