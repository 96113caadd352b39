export { stopChild } from '../lib/stop-child';
