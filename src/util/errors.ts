/** An error meant for the operator: printed as-is, never with a stack. */
export class UserError extends Error {
  override readonly name = 'UserError';
}
