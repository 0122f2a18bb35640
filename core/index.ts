/**
 * The package's main export (`import … from 'sipis'`): the core SIP toolkit.
 */
export { SipStackError } from './errors.js';
export * from './sip/index.js';
