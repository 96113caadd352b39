import type { Row, RowId } from '../types';
import { kubernetesRow } from './kubernetes';
import { postgresRow } from './postgres';
import { serverRow } from './server';
import { workersRow } from './workers';

/** Every row of the campaign, in the order `npm run chaos` runs them. */
export const ROWS: Record<RowId, Row> = {
  R1: workersRow,
  R2: serverRow,
  R3: postgresRow,
  R4: kubernetesRow,
};
