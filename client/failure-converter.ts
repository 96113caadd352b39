import { DefaultFailureConverter } from '@temporalio/common';

/**
 * The failure converter of an encrypting client and worker, loaded by path (DataConverter's
 * failureConverterPath) in the worker, the client and the workflow bundle alike: a failure's
 * message and stack trace travel as a payload, so the payload codec encrypts them too.
 * Imports nothing but @temporalio/common, since the workflow sandbox loads it as well.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
