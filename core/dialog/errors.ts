import { SipStackError } from '../errors.js';

/**
 * Stable codes of the dialog layer:
 * - ERR_DIALOG_NO_TAG: a response without a To tag cannot create a dialog (§12.1).
 * - ERR_DIALOG_TERMINATED: a request asked of a terminated dialog.
 * - ERR_DIALOG_NO_TARGET: no Contact to use as the remote target (§12.1.1, §12.1.2).
 */
export type DialogErrorCode = 'ERR_DIALOG_NO_TAG' | 'ERR_DIALOG_TERMINATED' | 'ERR_DIALOG_NO_TARGET';

export class DialogError extends SipStackError {
  declare readonly code: DialogErrorCode;
  constructor(code: DialogErrorCode, message: string) {
    super(code, message);
  }
}
