/**
 * core/dialog: dialog state (§12), route sets and in-dialog request building, the dialog store
 * that keeps forks apart, and the UAS 2xx retransmission of §13.3.1.4.
 */
export { Dialog, dialogKey, type DialogState, type InDialogOptions } from './dialog.js';
export { DialogStore } from './store.js';
export { routeRequest, type RoutedRequest } from './route.js';
export { Retransmit2xx } from './retransmit-2xx.js';
export { DialogError, type DialogErrorCode } from './errors.js';
