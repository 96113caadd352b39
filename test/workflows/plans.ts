export { BREACH_IN_WAVE_2, NEW_IMAGE, OLD_IMAGE, testPlan } from '../support/spec';
